"""AccessPolicy: namespaces, roles and shares decide the actions on each repository."""

import pytest

from nerve_registry.errors import InvalidInputError
from nerve_registry.security.policy import AccessPolicy, pattern_matches, validate_share_pattern
from nerve_registry.security.scopes import Access

ALICE = AccessPolicy.of("alice", "user", ["team/*", "tools/lint"])
ADMIN = AccessPolicy.of("root", "admin")


@pytest.mark.parametrize(
    ("repository", "expected"),
    [
        ("alice/app", {"*"}),
        ("alice/deep/app", {"*"}),
        ("team/app", {"pull"}),
        ("team/sub/app", {"pull"}),
        ("tools/lint", {"pull"}),
        ("tools/lint2", set()),
        ("alice", set()),
        ("alice-other/app", set()),
        ("bob/app", set()),
        ("team", set()),
    ],
)
def test_user_repository_actions(repository: str, expected: set[str]) -> None:
    assert set(ALICE.repository_actions(repository)) == expected


def test_admin_may_do_everything() -> None:
    assert set(ADMIN.repository_actions("bob/app")) == {"*"}


def test_catalog_only_for_admin() -> None:
    catalog = Access("registry", "catalog", frozenset({"*"}))

    assert ADMIN.allowed_actions(catalog) == {"*"}
    assert ALICE.allowed_actions(catalog) == set()


def test_user_delete_only_own_namespace() -> None:
    assert ALICE.can_delete("alice/app")
    assert not ALICE.can_delete("team/app")
    assert not ALICE.can_delete("bob/app")


def test_user_catalog_selection() -> None:
    selection = ALICE.catalog_selection()

    assert selection.prefixes == ("alice/", "team/")
    assert selection.names == ("tools/lint",)
    assert not selection.complete


def test_share_everything_selects_whole_catalog() -> None:
    policy = AccessPolicy.of("carol", "user", ["*"])

    assert policy.catalog_selection().complete
    assert set(policy.repository_actions("bob/app")) == {"pull"}


@pytest.mark.parametrize("pattern", ["*", "team/*", "team/app", "a/b/c/*"])
def test_share_pattern_valid(pattern: str) -> None:
    assert validate_share_pattern(pattern) == pattern


@pytest.mark.parametrize(
    "pattern", ["", "**", "team/**", "Team/*", "team/../x", "team%2fapp", "/*", "team/*/x", "a\nb"]
)
def test_share_pattern_invalid(pattern: str) -> None:
    with pytest.raises(InvalidInputError):
        validate_share_pattern(pattern)


def test_prefix_pattern_needs_separator() -> None:
    assert pattern_matches("team/*", "team/app")
    assert not pattern_matches("team/*", "teammate/app")
