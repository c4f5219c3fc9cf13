"""Retention rules: which tags each rule selects, and how the rules combine."""

from datetime import UTC, datetime, timedelta

import pytest

from nerve_registry.domain.retention import (
    RetentionPolicy,
    TagFacts,
    TimeSource,
    UntaggedFacts,
    check_stored_expressions,
    evaluate_tags,
    format_duration,
    parse_duration,
    select_policy,
    select_untagged,
    validate_expression,
    validate_repository_patterns,
)
from nerve_registry.errors import ConflictError, InvalidInputError

NOW = datetime(2025, 6, 1, tzinfo=UTC)


def _tags(*ages_in_days: int | None) -> list[TagFacts]:
    """Tags b0, b1, ... created the given number of days before NOW (None: unknown)."""
    return [
        TagFacts(
            tag=f"b{index}",
            digest=f"sha256:{index:064x}",
            created=NOW - timedelta(days=age) if age is not None else None,
            pushed=None,
        )
        for index, age in enumerate(ages_in_days)
    ]


def _deleted(policy: RetentionPolicy, tags: list[TagFacts]) -> set[str]:
    return {decision.tag for decision in evaluate_tags(policy, tags, now=NOW) if decision.delete}


def test_keep_last_deletes_older_tags() -> None:
    policy = RetentionPolicy("ci", ("**",), keep_last=2)

    assert _deleted(policy, _tags(1, 5, 3, 9)) == {"b1", "b3"}


def test_keep_last_zero_deletes_all() -> None:
    policy = RetentionPolicy("ci", ("**",), keep_last=0)

    assert _deleted(policy, _tags(1, 2)) == {"b0", "b1"}


def test_older_than_deletes_old_tags() -> None:
    policy = RetentionPolicy("ci", ("**",), older_than=timedelta(days=30))

    assert _deleted(policy, _tags(10, 31, 29, 400)) == {"b1", "b3"}


def test_both_rules_must_select() -> None:
    policy = RetentionPolicy("ci", ("**",), keep_last=2, older_than=timedelta(days=30))

    # b2 (40 days) and b3 (50 days) are old, but b2 is among the newest two.
    assert _deleted(policy, _tags(1, 60, 40, 50)) == {"b1", "b3"}


def test_no_rule_deletes_nothing() -> None:
    policy = RetentionPolicy("ci", ("**",))

    assert _deleted(policy, _tags(1, 900)) == set()


def test_unknown_time_counts_as_newest() -> None:
    policy = RetentionPolicy("ci", ("**",), keep_last=1, older_than=timedelta(days=1))

    decisions = {d.tag: d for d in evaluate_tags(policy, _tags(None, 5, 9), now=NOW)}

    assert decisions["b0"].delete is False
    assert decisions["b0"].reason == "among the newest 1"
    assert decisions["b1"].delete is True
    assert decisions["b2"].delete is True


def test_unknown_time_not_selected_by_age() -> None:
    policy = RetentionPolicy("ci", ("**",), older_than=timedelta(days=1))

    assert _deleted(policy, _tags(None, 5)) == {"b1"}


def test_ties_ordered_by_tag_name() -> None:
    policy = RetentionPolicy("ci", ("**",), keep_last=1)

    assert _deleted(policy, _tags(3, 3, 3)) == {"b1", "b2"}


def test_include_limits_candidates() -> None:
    policy = RetentionPolicy("ci", ("**",), keep_last=1, include=r"b[0-2]")

    # b3 is not a candidate, so b0 (newest candidate) is kept and b1, b2 go.
    assert _deleted(policy, _tags(2, 3, 4, 1)) == {"b1", "b2"}


def test_include_must_match_whole_tag() -> None:
    policy = RetentionPolicy("ci", ("**",), keep_last=0, include="b")

    assert _deleted(policy, _tags(1, 2)) == set()


def test_exclude_keeps_matching_tags() -> None:
    policy = RetentionPolicy("ci", ("**",), keep_last=0, exclude=r"b[13]")

    assert _deleted(policy, _tags(1, 2, 3, 4)) == {"b0", "b2"}


def test_protected_tags_do_not_count() -> None:
    policy = RetentionPolicy("ci", ("**",), keep_last=1, protect=("b0",))

    decisions = {d.tag: d for d in evaluate_tags(policy, _tags(1, 2, 3), now=NOW)}

    assert decisions["b0"].delete is False
    assert decisions["b0"].reason == "protected by policy 'ci'"
    assert decisions["b1"].delete is False
    assert decisions["b2"].delete is True


def test_time_source_pushed_orders_by_push() -> None:
    tags = [
        TagFacts(
            "old-build", "sha256:" + "1" * 64, NOW - timedelta(days=1), NOW - timedelta(days=9)
        ),
        TagFacts(
            "new-build", "sha256:" + "2" * 64, NOW - timedelta(days=9), NOW - timedelta(days=1)
        ),
    ]
    by_created = RetentionPolicy("ci", ("**",), keep_last=1)
    by_push = RetentionPolicy("ci", ("**",), keep_last=1, time_source=TimeSource.PUSHED)

    assert _deleted(by_created, tags) == {"new-build"}
    assert _deleted(by_push, tags) == {"old-build"}


def test_time_falls_back_to_push() -> None:
    tags = [TagFacts("a", "sha256:" + "1" * 64, None, NOW - timedelta(days=40))]
    policy = RetentionPolicy("ci", ("**",), older_than=timedelta(days=30))

    decision = evaluate_tags(policy, tags, now=NOW)[0]

    assert decision.delete is True
    assert decision.time_source == "pushed"


def test_first_policy_by_priority_governs() -> None:
    broad = RetentionPolicy("all", ("**",), priority=100)
    specific = RetentionPolicy("ci", ("ci/*",), priority=10)
    same_priority = RetentionPolicy("aaa", ("**",), priority=100)

    assert select_policy([broad, specific], "ci/app") is specific
    assert select_policy([broad, specific], "team/app") is broad
    assert select_policy([broad, same_priority], "team/app") is same_priority


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("ci/*", "ci/app", True),
        ("ci/*", "ci/app/arm", False),
        ("ci/**", "ci/app/arm", True),
        ("ci/**", "ci", False),
        ("ci/app?", "ci/app2", True),
        ("ci/app?", "ci/app/", False),
        ("**", "anything/at/all", True),
        ("team.a/*", "teamxa/app", False),
    ],
)
def test_repository_glob(pattern: str, name: str, matches: bool) -> None:
    policy = RetentionPolicy("p", (pattern,))

    assert policy.governs(name) is matches


def test_select_untagged_by_push_time() -> None:
    manifests = [
        UntaggedFacts("sha256:" + "1" * 64, created=None, pushed=NOW - timedelta(days=40)),
        UntaggedFacts("sha256:" + "2" * 64, created=None, pushed=NOW - timedelta(days=5)),
        UntaggedFacts("sha256:" + "3" * 64, created=None, pushed=None),
    ]

    selected = select_untagged(manifests, timedelta(days=30), now=NOW)

    assert [manifest.digest for manifest in selected] == ["sha256:" + "1" * 64]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30d", 30 * 86_400), ("12h", 43_200), ("1w2d", 9 * 86_400), ("90m", 5_400), ("0s", 0)],
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text, "olderThan") == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "30", "d30", "1d1w", "-5d", "3 days", 30])
def test_parse_duration_invalid(text: object) -> None:
    with pytest.raises(InvalidInputError) as raised:
        parse_duration(text, "olderThan")

    assert "'olderThan'" in raised.value.message


def test_format_duration_largest_units() -> None:
    assert format_duration(timedelta(days=1, hours=12)) == "1d12h"
    assert format_duration(timedelta(weeks=2)) == "2w"
    assert format_duration(timedelta(days=30)) == "30d"
    assert format_duration(timedelta(0)) == "0s"


def test_invalid_expression_names_field() -> None:
    with pytest.raises(InvalidInputError) as raised:
        validate_expression("release-(", "include")

    assert "'include'" in raised.value.message


def test_invalid_pattern_names_index() -> None:
    with pytest.raises(InvalidInputError) as raised:
        validate_repository_patterns(["ci/**", "CI/App"], "repositories")

    assert "'repositories[1]'" in raised.value.message


@pytest.mark.parametrize(
    "text", ["99999999999999999999w", "100000000000w", "5214w3d", "1" * 60 + "s"]
)
def test_parse_duration_over_maximum(text: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        parse_duration(text, "olderThan")

    assert "'olderThan'" in raised.value.message
    assert "the maximum is 36500 days" in raised.value.message


def test_parse_duration_at_maximum() -> None:
    assert parse_duration("36500d", "olderThan") == timedelta(days=36_500)


@pytest.mark.parametrize("expression", ["(?=a)b", "(?<!x)y", r"(a)\1", r"a\Z"])
def test_expression_outside_re2_rejected(expression: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        validate_expression(expression, "exclude")

    assert "'exclude'" in raised.value.message
    assert "RE2" in raised.value.message


@pytest.mark.timeout(60)
def test_backtracking_include_is_linear() -> None:
    # A backtracking matcher needs about 2**40 steps for this tag.
    policy = RetentionPolicy("ci", ("**",), keep_last=0, include="(a+)+")
    tags = [TagFacts("a" * 40 + "-x", "sha256:" + "1" * 64, NOW, None)]

    assert _deleted(policy, tags) == set()


@pytest.mark.timeout(60)
def test_backtracking_glob_is_linear() -> None:
    policy = RetentionPolicy("p", ("*a" * 12 + "*b",))

    assert policy.governs("a" * 60) is False


def test_stored_lookaround_reported() -> None:
    policy = RetentionPolicy("legacy", ("**",), keep_last=1, include="(?!keep-).*")

    with pytest.raises(ConflictError) as raised:
        check_stored_expressions(policy)

    assert "Retention policy 'legacy'" in raised.value.message
    assert "'include'" in raised.value.message


def test_keep_last_zero_reason() -> None:
    policy = RetentionPolicy("ci", ("**",), keep_last=0)

    decision = evaluate_tags(policy, _tags(1), now=NOW)[0]

    assert decision.reason == "keepLast is 0, so no candidate is kept"


def test_keep_last_zero_with_age_reason() -> None:
    policy = RetentionPolicy("ci", ("**",), keep_last=0, older_than=timedelta(days=30))

    decision = evaluate_tags(policy, _tags(40), now=NOW)[0]

    assert decision.reason == "older than 30d"


@pytest.mark.parametrize(
    ("keep_last", "older_than", "keeps_none"),
    [
        (0, None, True),
        (None, timedelta(0), True),
        (0, timedelta(0), True),
        (1, None, False),
        (0, timedelta(days=1), False),
        (None, None, False),
    ],
)
def test_keeps_no_candidate(
    keep_last: int | None, older_than: timedelta | None, keeps_none: bool
) -> None:
    policy = RetentionPolicy("ci", ("**",), keep_last=keep_last, older_than=older_than)

    assert policy.keeps_no_candidate is keeps_none
