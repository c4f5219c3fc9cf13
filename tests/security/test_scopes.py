"""Scope parsing as Docker clients send scopes, and granting against a policy."""

from __future__ import annotations

import pytest

from nerve_registry.domain.references import shown_value
from nerve_registry.errors import InvalidInputError, InvalidReferenceError
from nerve_registry.security import Access, grant, parse_scope, parse_scopes
from nerve_registry.security.scopes import MAX_SCOPES


def _access(resource_type: str, name: str, *actions: str) -> Access:
    return Access(type=resource_type, name=name, actions=frozenset(actions))


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("repository:team/app:pull", _access("repository", "team/app", "pull")),
        ("repository:team/app:pull,push", _access("repository", "team/app", "pull", "push")),
        ("repository:team/app:push,pull,pull", _access("repository", "team/app", "pull", "push")),
        ("repository:team/app:*", _access("repository", "team/app", "*")),
        ("repository:app:delete", _access("repository", "app", "delete")),
        ("repository:a/b/c-d.e__f:pull", _access("repository", "a/b/c-d.e__f", "pull")),
        ("registry:catalog:*", _access("registry", "catalog", "*")),
    ],
)
def test_parse_scope_valid(scope: str, expected: Access) -> None:
    assert parse_scope(scope) == expected


@pytest.mark.parametrize(
    "scope",
    [
        "",
        "repository",
        "repository:team/app",
        "repository:team/app:",
        "repository:team/app:pull,,push",
        "repository:team/app:read",
        "repository:127.0.0.1:5000/team/app:pull",
        "repository:localhost:5000/app:pull",
        "repository:team/app:v1:pull",
        "registry:catalog:pull",
        "registry:other:*",
    ],
)
def test_parse_scope_invalid(scope: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_scope(scope)

    assert shown_value(scope) in caught.value.message


@pytest.mark.parametrize(
    "scope",
    [
        "repository::pull",
        "repository:Team/App:pull",
        "repository:../etc:pull",
        "repository:team//app:pull",
        "repository:team/app%2f..:pull",
        f"repository:{'a' * 256}:pull",
    ],
)
def test_parse_scope_invalid_repository_name(scope: str) -> None:
    with pytest.raises(InvalidReferenceError) as caught:
        parse_scope(scope)

    assert shown_value(scope) in caught.value.message


@pytest.mark.parametrize(
    "scope",
    [
        "blob:team/app:pull",
        "repository(plugin):team/app:pull",
        "Repository:team/app:pull",
    ],
)
def test_parse_scope_unknown_type(scope: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_scope(scope)

    assert "unknown resource type" in caught.value.message
    assert shown_value(scope) in caught.value.message


def test_parse_scopes_several_parameters() -> None:
    scopes = parse_scopes(["repository:team/app:pull,push", "registry:catalog:*"])

    assert scopes == [
        _access("repository", "team/app", "pull", "push"),
        _access("registry", "catalog", "*"),
    ]


def test_parse_scopes_space_separated() -> None:
    scopes = parse_scopes(["repository:team/app:pull,push repository:team/base:pull"])

    assert scopes == [
        _access("repository", "team/app", "pull", "push"),
        _access("repository", "team/base", "pull"),
    ]


def test_parse_scopes_merges_same_resource() -> None:
    scopes = parse_scopes(["repository:team/app:pull", "repository:team/app:push"])

    assert scopes == [_access("repository", "team/app", "pull", "push")]


def test_parse_scopes_extra_whitespace() -> None:
    scopes = parse_scopes(["  repository:team/app:pull  ", ""])

    assert scopes == [_access("repository", "team/app", "pull")]


def test_parse_scopes_none() -> None:
    assert parse_scopes([]) == []


def test_parse_scopes_invalid_among_valid() -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_scopes(["repository:team/app:pull repository:team/app:fly"])

    assert "'repository:team/app:fly'" in caught.value.message


def test_parse_scopes_too_many() -> None:
    values = [f"repository:team/app{index}:pull" for index in range(MAX_SCOPES + 1)]

    with pytest.raises(InvalidInputError) as caught:
        parse_scopes(values)

    assert str(MAX_SCOPES) in caught.value.message


def test_parse_scopes_limit_allowed() -> None:
    values = [f"repository:team/app{index}:pull" for index in range(MAX_SCOPES)]

    assert len(parse_scopes(values)) == MAX_SCOPES


def _user_policy(access: Access) -> set[str]:
    """Everything under ``alice/``, pull on ``library/``, nothing else."""
    if access.type == "repository" and access.name.startswith("alice/"):
        return {"*"}
    if access.type == "repository" and access.name.startswith("library/"):
        return {"pull"}
    return set()


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        (_access("repository", "alice/app", "pull", "push"), [("pull", "push")]),
        (_access("repository", "alice/app", "*"), [("*",)]),
        (_access("repository", "alice/app", "delete"), [("delete",)]),
        (_access("repository", "library/base", "pull"), [("pull",)]),
        (_access("repository", "library/base", "pull", "push"), [("pull",)]),
        (_access("repository", "library/base", "*"), [("pull",)]),
        (_access("repository", "library/base", "push"), []),
        (_access("repository", "bob/app", "pull"), []),
        (_access("registry", "catalog", "*"), []),
    ],
)
def test_grant_user_policy(requested: Access, expected: list[tuple[str, ...]]) -> None:
    granted = grant([requested], _user_policy)

    assert [tuple(sorted(access.actions)) for access in granted] == expected


def test_grant_keeps_resource() -> None:
    granted = grant([_access("repository", "alice/app", "pull")], _user_policy)

    assert granted[0].type == "repository"
    assert granted[0].name == "alice/app"


def test_grant_admin_policy() -> None:
    requested = parse_scopes(["repository:bob/app:pull,push registry:catalog:*"])

    granted = grant(requested, lambda access: {"*"})

    assert granted == requested


def test_grant_drops_unknown_allowed_actions() -> None:
    granted = grant([_access("repository", "team/app", "*")], lambda access: {"pull", "fly"})

    assert granted == [_access("repository", "team/app", "pull")]


def test_grant_several_keeps_order() -> None:
    requested = parse_scopes(["repository:alice/app:pull,push repository:library/base:pull"])

    granted = grant(requested, _user_policy)

    assert [access.name for access in granted] == ["alice/app", "library/base"]
