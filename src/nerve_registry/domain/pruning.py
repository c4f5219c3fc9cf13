"""Prune plans: what retention policies and untagged cleanup would delete, and what that frees.

A plan lists three kinds of entries:

- ``tag``: a tag that the governing policy deletes, with the digest it pointed
  at when the plan was made;
- ``manifest``: an untagged manifest (embedded registry only);
- ``repository``: a repository left without tags and manifests, removed so that
  it leaves the catalog (embedded registry only).

``freed_bytes`` of an entry counts the blobs and manifests that garbage
collection frees once the entry is applied: those that no manifest remaining
after the whole plan references, in any repository. A blob that several
entries free is counted at the first of them, so the entries add up to the
plan's total. For an external registry untagged manifests are unknown, so a
blob that only such a manifest shares with a deleted image is counted as freed
although the collector keeps it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from nerve_registry.domain.inventory import Inventory
from nerve_registry.domain.retention import (
    RetentionPolicy,
    TagFacts,
    UntaggedFacts,
    evaluate_tags,
    format_duration,
    select_policy,
    select_untagged,
)

logger = logging.getLogger(__name__)

TAG = "tag"
MANIFEST = "manifest"
REPOSITORY = "repository"


@dataclass(frozen=True)
class PlanEntry:
    kind: str
    repository: str
    tag: str | None
    digest: str | None
    reason: str
    policy: str | None
    time: datetime | None
    time_source: str | None
    freed_bytes: int


@dataclass(frozen=True)
class KeptTag:
    repository: str
    tag: str
    digest: str
    reason: str
    policy: str


@dataclass
class Plan:
    entries: list[PlanEntry]
    kept: list[KeptTag]
    warnings: list[str] = field(default_factory=list)

    @property
    def freed_bytes(self) -> int:
        return sum(entry.freed_bytes for entry in self.entries)


@dataclass
class _RepositoryOutcome:
    """The plan's effect on one repository, before bytes are counted."""

    deleted_tags: list[PlanEntry] = field(default_factory=list)
    untagged: list[PlanEntry] = field(default_factory=list)
    # Manifests gone after the plan: those that deleting the tags removes, and untagged ones.
    deleted_manifests: set[str] = field(default_factory=set)
    surviving_manifests: set[str] = field(default_factory=set)
    remove_repository: bool = False


def build_plan(
    inventory: Inventory,
    policies: Sequence[RetentionPolicy],
    *,
    now: datetime,
    untagged_older_than: timedelta | None,
) -> Plan:
    """Decide every deletion for ``inventory`` and count the bytes each would free.

    ``policies`` are the policies to apply (see ``retention`` for how they
    combine). ``untagged_older_than`` adds untagged manifests older than that
    in every repository, in addition to what the policies select.
    """
    plan = Plan(entries=[], kept=[], warnings=list(inventory.warnings))
    outcomes: dict[str, _RepositoryOutcome] = {}
    governing: dict[str, RetentionPolicy] = {}

    # 1. Apply the governing policy, and untagged cleanup, to each repository.
    for name, content in inventory.repositories.items():
        policy = select_policy(policies, name)
        outcome = _RepositoryOutcome()
        outcomes[name] = outcome
        if policy is not None:
            governing[policy.name] = policy

        _plan_tags(inventory, name, policy, now, outcome, plan)
        cleanup_age = _untagged_age(policy, untagged_older_than)
        if cleanup_age is not None and inventory.revisions_known:
            _plan_untagged(inventory, name, policy, cleanup_age, now, outcome)
            outcome.remove_repository = not (set(content.tags) - _tags(outcome)) and not (
                outcome.surviving_manifests
            )

    for policy in sorted(governing.values(), key=lambda policy: policy.name):
        if policy.keeps_no_candidate:
            plan.warnings.append(_keeps_nothing_warning(policy))

    if untagged_older_than is not None and not inventory.revisions_known:
        plan.warnings.append(
            "Untagged manifests and empty repositories cannot be cleaned up in an external "
            "registry: the distribution API does not list them. See the cleanup documentation."
        )

    # 2. Count what each entry frees, against everything that survives the plan.
    marked = _marked_blobs(inventory, outcomes)
    counted: set[str] = set()
    for name, outcome in outcomes.items():
        for entry in _ordered(outcome.deleted_tags) + outcome.untagged:
            plan.entries.append(_with_bytes(inventory, entry, outcome, marked, counted))
        if outcome.remove_repository:
            plan.entries.append(_repository_entry(name, policy_name=_policy_of(outcome)))

    return plan


def _keeps_nothing_warning(policy: RetentionPolicy) -> str:
    rules = []
    if policy.keep_last is not None:
        rules.append(f"keepLast {policy.keep_last}")
    if policy.older_than is not None:
        rules.append(f"olderThan {format_duration(policy.older_than)}")
    unknown_time = " and that has a known time" if policy.older_than is not None else ""
    return (
        f"Policy '{policy.name}' keeps no candidate tag ({' and '.join(rules)}): it deletes "
        f"every tag of the repositories it governs that protect, include and exclude do not "
        f"keep{unknown_time}. Check the plan's entries before you apply it."
    )


def _plan_tags(
    inventory: Inventory,
    name: str,
    policy: RetentionPolicy | None,
    now: datetime,
    outcome: _RepositoryOutcome,
    plan: Plan,
) -> None:
    content = inventory.repositories[name]
    if policy is None:
        outcome.surviving_manifests = set(content.revisions or {}) | inventory.reachable(
            content.tags.values()
        )
        return

    facts = [
        TagFacts(
            tag=tag,
            digest=digest,
            created=_created(inventory, digest),
            pushed=content.tag_pushed.get(tag),
        )
        for tag, digest in content.tags.items()
    ]
    kept_digests: list[str] = []
    for decision in evaluate_tags(policy, facts, now=now):
        if not decision.delete:
            kept_digests.append(decision.digest)
            plan.kept.append(
                KeptTag(name, decision.tag, decision.digest, decision.reason, policy.name)
            )
            continue
        outcome.deleted_tags.append(
            PlanEntry(
                kind=TAG,
                repository=name,
                tag=decision.tag,
                digest=decision.digest,
                reason=f"policy '{policy.name}': {decision.reason}",
                policy=policy.name,
                time=decision.time,
                time_source=decision.time_source,
                freed_bytes=0,
            )
        )

    # Deleting a tag deletes its manifest, and an index's children, unless a kept tag needs them.
    needed = inventory.reachable(kept_digests)
    for entry in outcome.deleted_tags:
        assert entry.digest is not None
        outcome.deleted_manifests |= inventory.reachable([entry.digest]) - needed

    known = set(content.revisions) if content.revisions is not None else set()
    outcome.surviving_manifests = (known | needed) - outcome.deleted_manifests


def _plan_untagged(
    inventory: Inventory,
    name: str,
    policy: RetentionPolicy | None,
    older_than: timedelta,
    now: datetime,
    outcome: _RepositoryOutcome,
) -> None:
    """Select untagged manifests, keeping those that a surviving index still references."""
    untagged = inventory.untagged(name)
    facts = [
        UntaggedFacts(digest, _created(inventory, digest), stored_at)
        for digest, stored_at in untagged.items()
    ]
    selected = {manifest.digest for manifest in select_untagged(facts, older_than, now=now)}

    # A selected manifest that a surviving index references stays, and so on downwards.
    while True:
        surviving = outcome.surviving_manifests - selected
        referenced = {
            child
            for digest in surviving
            for child in (
                inventory.manifests[digest].children if digest in inventory.manifests else ()
            )
        }
        still_needed = selected & referenced
        if not still_needed:
            break
        selected -= still_needed

    outcome.surviving_manifests -= selected
    outcome.deleted_manifests |= selected
    age = format_duration(older_than)
    for digest in sorted(selected, key=lambda digest: (untagged[digest], digest)):
        outcome.untagged.append(
            PlanEntry(
                kind=MANIFEST,
                repository=name,
                tag=None,
                digest=digest,
                reason=f"untagged, pushed more than {age} ago",
                policy=policy.name if policy and policy.untagged_older_than else None,
                time=untagged[digest],
                time_source="pushed",
                freed_bytes=0,
            )
        )


def _untagged_age(policy: RetentionPolicy | None, requested: timedelta | None) -> timedelta | None:
    """Return the shorter of the request's and the policy's untagged age; either may be absent."""
    candidates = (requested, policy.untagged_older_than if policy else None)
    ages = [age for age in candidates if age is not None]
    return min(ages) if ages else None


def _marked_blobs(inventory: Inventory, outcomes: dict[str, _RepositoryOutcome]) -> set[str]:
    """Return what the collector keeps: every surviving manifest, its blobs and its children."""
    marked: set[str] = set()
    for outcome in outcomes.values():
        for digest in outcome.surviving_manifests:
            marked.add(digest)
            node = inventory.manifests.get(digest)
            if node is not None:
                marked.update(node.blobs)
                marked.update(node.children)
    return marked


def _with_bytes(
    inventory: Inventory,
    entry: PlanEntry,
    outcome: _RepositoryOutcome,
    marked: set[str],
    counted: set[str],
) -> PlanEntry:
    assert entry.digest is not None
    gone = [
        digest
        for digest in inventory.reachable([entry.digest])
        if digest in outcome.deleted_manifests
    ]
    if entry.kind == MANIFEST:
        gone = [entry.digest]

    freed = 0
    for digest in gone:
        node = inventory.manifests.get(digest)
        if node is None:
            continue
        for blob, size in {digest: node.size, **node.blobs}.items():
            if blob in marked or blob in counted:
                continue
            counted.add(blob)
            freed += size

    return PlanEntry(**{**entry.__dict__, "freed_bytes": freed})


def _repository_entry(name: str, *, policy_name: str | None) -> PlanEntry:
    return PlanEntry(
        kind=REPOSITORY,
        repository=name,
        tag=None,
        digest=None,
        reason="no tags or manifests are left, so the repository leaves the catalog",
        policy=policy_name,
        time=None,
        time_source=None,
        freed_bytes=0,
    )


def _ordered(entries: Iterable[PlanEntry]) -> list[PlanEntry]:
    """Order tag entries oldest first; entries without a time come last, then by tag."""
    return sorted(
        entries,
        key=lambda entry: (
            entry.time is None,
            entry.time.timestamp() if entry.time else 0.0,
            entry.tag or "",
        ),
    )


def _tags(outcome: _RepositoryOutcome) -> set[str]:
    return {entry.tag for entry in outcome.deleted_tags if entry.tag is not None}


def _policy_of(outcome: _RepositoryOutcome) -> str | None:
    for entry in outcome.deleted_tags + outcome.untagged:
        if entry.policy is not None:
            return entry.policy
    return None


def _created(inventory: Inventory, digest: str) -> datetime | None:
    node = inventory.manifests.get(digest)
    return node.created if node is not None else None
