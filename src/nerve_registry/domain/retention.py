"""Retention policies: which tags and untagged manifests of a repository a prune deletes.

How the rules combine:

1. Each repository is governed by at most one policy: the first enabled policy,
   ordered by ``priority`` (lower first) and then by name, with a repository
   pattern that matches the repository's name. Other policies do not apply to it.
   A repository that no policy governs loses nothing to policies.
2. Within the governing policy, a tag is kept without further checks when it is
   listed in ``protect``, when ``include`` is set and does not match the tag, or
   when ``exclude`` matches the tag. These tags do not count toward ``keep_last``.
   Both expressions use RE2 syntax and must match the whole tag.
3. The remaining tags are the candidates, ordered newest first by their time
   (see ``TimeSource``). Ties, and tags without any known time, are ordered by
   tag name. A tag without a known time counts as newer than every tag with one.
4. A candidate is deleted when every rule that the policy sets selects it:
   ``keep_last=N`` selects every candidate after the newest N, and
   ``older_than=D`` selects candidates whose time is more than D before now.
   A candidate without a known time is never selected by ``older_than``.
   A policy that sets neither rule deletes no tags.
5. ``untagged_older_than=D`` deletes the repository's untagged manifests that
   were pushed more than D before now (see ``select_untagged``).

Repository patterns are globs over repository names: ``*`` matches any
characters except ``/``, ``**`` matches any characters including ``/``, and
``?`` matches one character except ``/``. So ``ci/*`` matches ``ci/app`` but
not ``ci/app/arm``, and ``ci/**`` matches both.

Globs and tag expressions are matched with RE2 (google-re2), which runs in
time linear in the length of the text. Python's ``re`` backtracks, so an
expression such as ``(a+)+`` against a tag of 30 a's and one other character
would keep a CPU busy for many seconds.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import re2

from nerve_registry.domain.references import shown_value, validate_tag
from nerve_registry.errors import ConflictError, InvalidInputError

MAX_POLICY_NAME_LENGTH = 64
MAX_PATTERN_LENGTH = 255
MAX_PATTERNS = 100
MAX_EXPRESSION_LENGTH = 1000
MAX_PROTECTED_TAGS = 1000
MAX_KEEP_LAST = 1_000_000
# Durations above this are almost certainly typing mistakes (a century).
MAX_DURATION = timedelta(days=36_500)
# Longer duration texts are rejected before their numbers are parsed.
MAX_DURATION_TEXT = 64
DEFAULT_PRIORITY = 100

POLICY_NAME_RE = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?")
_PATTERN_RE = re.compile(r"[a-z0-9._/*?-]+")
_DURATION_RE = re.compile(r"(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_DURATION_UNITS = (("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))


def _re2_options() -> re2.Options:
    options = re2.Options()
    # RE2 logs every pattern it cannot compile to stderr; the caller reports the error instead.
    options.log_errors = False
    return options


_RE2_OPTIONS = _re2_options()


class Matcher(Protocol):
    """A compiled RE2 expression; ``fullmatch`` returns a match object or None."""

    def fullmatch(self, text: str) -> object | None: ...


class TimeSource(enum.StrEnum):
    """The time that orders tags: the image's created time or the time of the push.

    ``created`` uses the ``created`` field of the image config (for an index, its
    newest child) and falls back to the push time. ``pushed`` uses the push time
    and falls back to the created time. Only the embedded registry records push
    times, so with an external registry both mean the created time.
    """

    CREATED = "created"
    PUSHED = "pushed"


@dataclass(frozen=True)
class RetentionPolicy:
    """A named set of retention rules for the repositories that ``repositories`` match."""

    name: str
    repositories: tuple[str, ...]
    priority: int = DEFAULT_PRIORITY
    keep_last: int | None = None
    older_than: timedelta | None = None
    include: str | None = None
    exclude: str | None = None
    protect: tuple[str, ...] = ()
    untagged_older_than: timedelta | None = None
    time_source: TimeSource = TimeSource.CREATED
    enabled: bool = True

    def governs(self, repository: str) -> bool:
        """Return True when one of the repository patterns matches ``repository``."""
        return any(
            compile_repository_pattern(pattern).fullmatch(repository)
            for pattern in self.repositories
        )

    @property
    def deletes_tags(self) -> bool:
        return self.keep_last is not None or self.older_than is not None

    @property
    def keeps_no_candidate(self) -> bool:
        """True when the rules select every candidate: ``keepLast`` 0, ``olderThan`` 0s or both.

        ``olderThan`` 0s still keeps candidates without a known time.
        """
        if not self.deletes_tags:
            return False
        keeps_none = self.keep_last is None or self.keep_last == 0
        any_age = self.older_than is None or self.older_than <= timedelta(0)
        return keeps_none and any_age


@dataclass(frozen=True)
class TagFacts:
    """A tag with the digest it points at and the times known for its image."""

    tag: str
    digest: str
    created: datetime | None
    pushed: datetime | None


@dataclass(frozen=True)
class TagDecision:
    """Whether a tag goes, and why, in words an operator can check against the policy."""

    tag: str
    digest: str
    delete: bool
    reason: str
    time: datetime | None
    time_source: str | None


@dataclass(frozen=True)
class UntaggedFacts:
    """An untagged manifest of a repository and when it was pushed."""

    digest: str
    created: datetime | None
    pushed: datetime | None


def select_policy(policies: Iterable[RetentionPolicy], repository: str) -> RetentionPolicy | None:
    """Return the policy that governs ``repository``: the first match by priority, then name."""
    for policy in sorted(policies, key=lambda policy: (policy.priority, policy.name)):
        if policy.governs(repository):
            return policy
    return None


def evaluate_tags(
    policy: RetentionPolicy, tags: Sequence[TagFacts], *, now: datetime
) -> list[TagDecision]:
    """Decide for each tag of one repository whether ``policy`` deletes it.

    Returns one decision per tag: first the tags that the policy leaves out of
    its candidates, then the candidates newest first.
    """
    # 1. Protected, not included and excluded tags are kept and are not candidates.
    decisions: list[TagDecision] = []
    candidates: list[tuple[TagFacts, datetime | None, str | None]] = []
    for facts in tags:
        time, source = tag_time(facts, policy.time_source)
        reason = _reason_not_candidate(policy, facts.tag)
        if reason is not None:
            decisions.append(TagDecision(facts.tag, facts.digest, False, reason, time, source))
        else:
            candidates.append((facts, time, source))

    # 2. Candidates newest first; unknown times first, ties by tag name.
    candidates.sort(key=lambda item: item[0].tag)
    candidates.sort(key=lambda item: (item[1] is not None, _negated(item[1])))

    # 3. Each rule the policy sets must select a candidate for it to be deleted.
    cutoff = now - policy.older_than if policy.older_than is not None else None
    for position, (facts, time, source) in enumerate(candidates):
        delete, reason = _decide_candidate(policy, position, time, cutoff)
        decisions.append(TagDecision(facts.tag, facts.digest, delete, reason, time, source))

    return decisions


def select_untagged(
    manifests: Sequence[UntaggedFacts], older_than: timedelta, *, now: datetime
) -> list[UntaggedFacts]:
    """Return the untagged manifests pushed more than ``older_than`` before ``now``.

    The push time is the time the registry stored the manifest. Without it the
    image's created time is used, and a manifest with neither is kept.
    """
    cutoff = now - older_than
    selected = []
    for manifest in manifests:
        time = manifest.pushed or manifest.created
        if time is not None and time < cutoff:
            selected.append(manifest)
    return selected


def tag_time(facts: TagFacts, source: TimeSource) -> tuple[datetime | None, str | None]:
    """Return the time that orders a tag and which source it came from, per ``source``."""
    ordered = [("created", facts.created), ("pushed", facts.pushed)]
    if source is TimeSource.PUSHED:
        ordered.reverse()

    for name, value in ordered:
        if value is not None:
            return value, name
    return None, None


def _reason_not_candidate(policy: RetentionPolicy, tag: str) -> str | None:
    if tag in policy.protect:
        return f"protected by policy '{policy.name}'"
    if policy.include is not None and not compile_tag_expression(policy.include).fullmatch(tag):
        return f"not matched by include '{policy.include}'"
    if policy.exclude is not None and compile_tag_expression(policy.exclude).fullmatch(tag):
        return f"matched by exclude '{policy.exclude}'"
    return None


def _decide_candidate(
    policy: RetentionPolicy, position: int, time: datetime | None, cutoff: datetime | None
) -> tuple[bool, str]:
    if not policy.deletes_tags:
        return False, f"policy '{policy.name}' sets neither keepLast nor olderThan"

    if policy.keep_last is not None and position < policy.keep_last:
        return False, f"among the newest {policy.keep_last}"

    if cutoff is not None and policy.older_than is not None:
        age = format_duration(policy.older_than)
        if time is None:
            return False, "no created or push time is known"
        if time >= cutoff:
            return False, f"newer than {age}"
        if policy.keep_last:
            return True, f"older than {age} and not among the newest {policy.keep_last}"
        return True, f"older than {age}"

    if policy.keep_last == 0:
        return True, "keepLast is 0, so no candidate is kept"
    return True, f"not among the newest {policy.keep_last}"


def _negated(time: datetime | None) -> float:
    return -time.timestamp() if time is not None else 0.0


@functools.lru_cache(maxsize=1024)
def compile_repository_pattern(pattern: str) -> Matcher:
    """Translate a repository glob into an RE2 expression (see the module docstring)."""
    parts: list[str] = []
    index = 0
    while index < len(pattern):
        if pattern.startswith("**", index):
            parts.append(".*")
            index += 2
            continue

        character = pattern[index]
        if character == "*":
            parts.append("[^/]*")
        elif character == "?":
            parts.append("[^/]")
        else:
            parts.append(re2.escape(character))
        index += 1

    matcher: Matcher = re2.compile("".join(parts), _RE2_OPTIONS)
    return matcher


@functools.lru_cache(maxsize=256)
def compile_tag_expression(expression: str) -> Matcher:
    """Compile an include or exclude expression with RE2; raises ``re2.error`` if it cannot."""
    matcher: Matcher = re2.compile(expression, _RE2_OPTIONS)
    return matcher


def parse_duration(value: object, field: str) -> timedelta:
    """Parse a duration such as ``30d``, ``12h`` or ``1w2d``.

    Raises InvalidInputError naming ``field`` for anything else. Units, in this
    order: ``w`` weeks, ``d`` days, ``h`` hours, ``m`` minutes, ``s`` seconds.
    """
    text = value.strip() if isinstance(value, str) else None
    match = _DURATION_RE.fullmatch(text) if text and len(text) <= MAX_DURATION_TEXT else None
    if match is None or not any(match.groups()):
        raise InvalidInputError(
            f"Field '{field}' has the invalid duration {shown_value(value)}: use a number with "
            "a unit, such as '30d', '12h' or '1w2d' (units w, d, h, m, s)."
        )

    # Compare whole seconds first: timedelta raises OverflowError above 999999999 days.
    seconds = sum(
        int(amount) * factor
        for amount, (_unit, factor) in zip(match.groups(), _DURATION_UNITS, strict=True)
        if amount
    )
    if seconds > MAX_DURATION.total_seconds():
        raise InvalidInputError(
            f"Field '{field}' is too long a duration ({shown_value(value)}); the maximum is "
            f"{MAX_DURATION.days} days."
        )
    return timedelta(seconds=seconds)


def format_duration(duration: timedelta) -> str:
    """Format a duration as operators write it, such as ``30d``, ``1d12h`` or ``2w``.

    Weeks are used only for whole weeks, so 30 days stay ``30d``.
    """
    remaining = int(duration.total_seconds())
    if remaining == 0:
        return "0s"
    if remaining % _DURATION_UNITS[0][1] == 0:
        return f"{remaining // _DURATION_UNITS[0][1]}w"

    text = ""
    for unit, factor in _DURATION_UNITS[1:]:
        amount, remaining = divmod(remaining, factor)
        if amount:
            text += f"{amount}{unit}"
    return text


def validate_policy_name(name: object, field: str = "name") -> str:
    if not isinstance(name, str) or not POLICY_NAME_RE.fullmatch(name):
        raise InvalidInputError(
            f"Field '{field}' has the invalid name {shown_value(name)}: use 1 to "
            f"{MAX_POLICY_NAME_LENGTH} lowercase letters, digits, '.', '_' or '-', starting "
            "and ending with a letter or digit."
        )
    return name


def validate_repository_patterns(patterns: Sequence[object], field: str) -> tuple[str, ...]:
    if not patterns:
        raise InvalidInputError(f"Field '{field}' needs at least one repository pattern.")
    if len(patterns) > MAX_PATTERNS:
        raise InvalidInputError(f"Field '{field}' has more than {MAX_PATTERNS} patterns.")

    checked = []
    for index, pattern in enumerate(patterns):
        valid = isinstance(pattern, str) and len(pattern) <= MAX_PATTERN_LENGTH
        if not valid or not _PATTERN_RE.fullmatch(str(pattern)):
            raise InvalidInputError(
                f"Field '{field}[{index}]' has the invalid repository pattern "
                f"{shown_value(pattern)}: use lowercase letters, digits, '.', '_', '-', '/' "
                "and the wildcards '*', '**' and '?', at most 255 characters."
            )
        checked.append(str(pattern))
    return tuple(checked)


def validate_expression(expression: object, field: str) -> str:
    """Return ``expression`` if RE2 compiles it, else raise InvalidInputError naming ``field``."""
    if not isinstance(expression, str) or not expression:
        raise InvalidInputError(f"Field '{field}' must be a non-empty regular expression.")
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise InvalidInputError(
            f"Field '{field}' is longer than {MAX_EXPRESSION_LENGTH} characters."
        )

    try:
        compile_tag_expression(expression)
    except re2.error as error:
        raise InvalidInputError(
            f"Field '{field}' is not a valid RE2 regular expression ({_re2_reason(error)}): "
            f"{shown_value(expression)}. RE2 has no lookarounds such as (?=...) or (?!...) "
            "and no backreferences such as \\1."
        ) from error
    return expression


def check_stored_expressions(policy: RetentionPolicy) -> None:
    """Raise ConflictError when a stored include or exclude expression does not compile with RE2.

    Versions that matched with Python's ``re`` module accepted lookarounds and
    backreferences, so a policy stored by one of them can contain syntax that
    RE2 rejects.
    """
    for field, expression in (("include", policy.include), ("exclude", policy.exclude)):
        if expression is None:
            continue
        try:
            validate_expression(expression, field)
        except InvalidInputError as error:
            raise ConflictError(
                f"Retention policy '{policy.name}' cannot be applied: {error.message} Set the "
                f"policy again with 'nerve-registry policy set {policy.name}'.",
                error_code="POLICY_INVALID",
            ) from error


def _re2_reason(error: Exception) -> str:
    """Return RE2's reason for rejecting a pattern, which the binding passes as bytes."""
    reason = error.args[0] if error.args else "unknown error"
    if isinstance(reason, bytes):
        return reason.decode("utf-8", errors="replace")
    return str(reason)


def validate_protected_tags(tags: Sequence[object], field: str) -> tuple[str, ...]:
    if len(tags) > MAX_PROTECTED_TAGS:
        raise InvalidInputError(f"Field '{field}' lists more than {MAX_PROTECTED_TAGS} tags.")
    return tuple(validate_tag(tag, f"{field}[{index}]") for index, tag in enumerate(tags))


def validate_keep_last(value: int | None, field: str = "keepLast") -> int | None:
    if value is not None and not 0 <= value <= MAX_KEEP_LAST:
        raise InvalidInputError(
            f"Field '{field}' must be between 0 and {MAX_KEEP_LAST}, not {value}."
        )
    return value
