"""Conversions between stored cleanup records, domain objects and API documents.

Plan and run documents use the API's camelCase keys, so a stored plan is
returned exactly as it was computed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from nerve_registry.api.maintenance import CollectionReport
from nerve_registry.domain.configs import format_timestamp
from nerve_registry.domain.plan_apply import DELETED, FAILED, SKIPPED, EntryResult
from nerve_registry.domain.pruning import Plan, PlanEntry
from nerve_registry.domain.retention import RetentionPolicy, TimeSource, format_duration
from nerve_registry.errors import NotFoundError
from nerve_registry.store import cleanup as store
from nerve_registry.store.database import transaction, utcnow

logger = logging.getLogger(__name__)


def policy_from_record(
    record: store.PolicyRecord, *, enabled: bool | None = None
) -> RetentionPolicy:
    return RetentionPolicy(
        name=record.name,
        repositories=tuple(record.repositories),
        priority=record.priority,
        keep_last=record.keep_last,
        older_than=_seconds(record.older_than_seconds),
        include=record.include,
        exclude=record.exclude,
        protect=tuple(record.protect),
        untagged_older_than=_seconds(record.untagged_older_than_seconds),
        time_source=TimeSource(record.time_source),
        enabled=record.enabled if enabled is None else enabled,
    )


def policy_not_found(name: str) -> NotFoundError:
    return NotFoundError(
        f"Retention policy '{name}' not found; list the policies with 'nerve-registry policy "
        "list' (GET /nerve/registry/policies).",
        error_code="POLICY_NOT_FOUND",
    )


def policy_document(record: store.PolicyRecord) -> dict[str, Any]:
    return {
        "name": record.name,
        "repositories": list(record.repositories),
        "priority": record.priority,
        "keepLast": record.keep_last,
        "olderThan": duration_text(record.older_than_seconds),
        "include": record.include,
        "exclude": record.exclude,
        "protect": list(record.protect),
        "untaggedOlderThan": duration_text(record.untagged_older_than_seconds),
        "timeSource": record.time_source,
        "enabled": record.enabled,
        "createdAt": format_timestamp(record.created_at),
        "updatedAt": format_timestamp(record.updated_at),
    }


def plan_document(
    plan: Plan,
    *,
    policies: list[str],
    policy_names: list[str] | None,
    untagged_older_than: timedelta | None,
    embedded: bool,
) -> dict[str, Any]:
    """Return the plan as the document that is stored and returned by the API."""
    return {
        "request": {
            "policies": policy_names,
            "untaggedOlderThan": format_duration(untagged_older_than)
            if untagged_older_than is not None
            else None,
        },
        "registry": "embedded" if embedded else "external",
        "policies": policies,
        "entries": [entry_document(entry) for entry in plan.entries],
        "kept": [
            {
                "repository": kept.repository,
                "tag": kept.tag,
                "digest": kept.digest,
                "reason": kept.reason,
                "policy": kept.policy,
            }
            for kept in plan.kept
        ],
        "freedBytes": plan.freed_bytes,
        "warnings": plan.warnings,
    }


def entry_document(entry: PlanEntry) -> dict[str, Any]:
    return {
        "kind": entry.kind,
        "repository": entry.repository,
        "tag": entry.tag,
        "digest": entry.digest,
        "reason": entry.reason,
        "policy": entry.policy,
        "time": format_timestamp(entry.time),
        "timeSource": entry.time_source,
        "freedBytes": entry.freed_bytes,
    }


def stored_plan_document(record: store.PlanRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "createdAt": format_timestamp(record.created_at),
        "expiresAt": format_timestamp(record.expires_at),
        "createdBy": record.created_by,
        "runId": record.run_id,
        **record.document,
    }


def collection_details(report: CollectionReport) -> dict[str, Any]:
    return {
        "storageBytesBefore": report.storage_bytes_before,
        "storageBytesAfter": report.storage_bytes_after,
        "freedBytes": report.freed_bytes,
        "blobsMarked": report.blobs_marked,
        "blobsDeleted": report.blobs_deleted,
        "summary": report.summary,
    }


@dataclass
class RunProgress:
    """Progress of a run and the outcome of each entry so far, saved after every entry."""

    run_id: int
    total: int
    done: int = 0
    deleted: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    collection: dict[str, Any] | None = None
    attempted: set[tuple[str, str, str | None, str | None]] = field(default_factory=set)

    def add(self, entry: dict[str, Any], result: EntryResult) -> None:
        outcome = {**_entry_key_document(entry), "message": result.message}
        if result.status == DELETED:
            self.deleted.append({**outcome, "freedBytes": entry.get("freedBytes", 0)})
        elif result.status == SKIPPED:
            self.skipped.append(outcome)
        elif result.status == FAILED:
            self.failed.append(outcome)
        self.attempted.add(_entry_key(entry))
        self.done += 1

    def details(self, not_attempted: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        return {
            "deleted": self.deleted,
            "skipped": self.skipped,
            "failed": self.failed,
            "notAttempted": not_attempted or [],
            "collection": self.collection,
        }


def create_run(
    database: sessionmaker[Session],
    kind: str,
    triggered_by: str,
    plan_id: str | None,
    total: int,
) -> int:
    with transaction(database) as session:
        run = store.create_run(session, kind=kind, triggered_by=triggered_by, plan_id=plan_id)
        run.progress_total = total
        return run.id


def save_progress(database: sessionmaker[Session], progress: RunProgress) -> None:
    with transaction(database) as session:
        run = store.get_run(session, progress.run_id)
        if run is None:
            return
        run.progress_done = progress.done
        run.progress_total = progress.total
        run.details = progress.details()


def finish_run(
    database: sessionmaker[Session],
    progress: RunProgress,
    entries: list[dict[str, Any]],
    *,
    error: str | None = None,
    interrupted: bool = False,
) -> None:
    """Store the outcome and log it.

    The status is ``interrupted`` when the service stopped during the run,
    ``failed`` on ``error``, and ``partial`` when entries were skipped or failed.
    """
    not_attempted = [
        _entry_key_document(entry)
        for entry in entries
        if _entry_key(entry) not in progress.attempted
    ]
    if interrupted:
        status = store.RUN_INTERRUPTED
        error = store.INTERRUPTED_MESSAGE
    elif error is not None:
        status = store.RUN_FAILED
    elif progress.skipped or progress.failed:
        status = store.RUN_PARTIAL
    else:
        status = store.RUN_SUCCEEDED

    with transaction(database) as session:
        run = store.get_run(session, progress.run_id)
        if run is None:
            return
        run.status = status
        run.finished_at = utcnow()
        run.progress_done = progress.done
        run.progress_total = progress.total
        run.details = progress.details(not_attempted)
        if progress.collection is not None:
            run.freed_bytes = int(progress.collection["freedBytes"])
        run.message = error or _summary(progress)

    if error is not None:
        logger.warning("Cleanup run %d ended: %s: %s", progress.run_id, status, error)
    else:
        logger.info("Cleanup run %d ended: %s", progress.run_id, status)


def run_document(record: store.RunRecord) -> dict[str, Any]:
    details = record.details or {}
    return {
        "id": record.id,
        "kind": record.kind,
        "triggeredBy": record.triggered_by,
        "status": record.status,
        "startedAt": format_timestamp(record.started_at),
        "finishedAt": format_timestamp(record.finished_at),
        "planId": record.plan_id,
        "progress": {"done": record.progress_done, "total": record.progress_total},
        "estimatedFreedBytes": record.estimated_freed_bytes,
        "freedBytes": record.freed_bytes,
        "deleted": details.get("deleted", []),
        "skipped": details.get("skipped", []),
        "failed": details.get("failed", []),
        "notAttempted": details.get("notAttempted", []),
        "collection": details.get("collection"),
        "message": record.message,
    }


def _summary(progress: RunProgress) -> str:
    parts = [f"{len(progress.deleted)} deleted"]
    if progress.skipped:
        parts.append(f"{len(progress.skipped)} skipped because the registry changed")
    if progress.failed:
        parts.append(f"{len(progress.failed)} failed")
    if progress.collection is not None:
        parts.append(f"garbage collection freed {progress.collection['freedBytes']} bytes")
    return ", ".join(parts) + "."


def _entry_key(entry: dict[str, Any]) -> tuple[str, str, str | None, str | None]:
    return (entry["kind"], entry["repository"], entry.get("tag"), entry.get("digest"))


def _entry_key_document(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": entry["kind"],
        "repository": entry["repository"],
        "tag": entry.get("tag"),
        "digest": entry.get("digest"),
    }


def _seconds(value: int | None) -> timedelta | None:
    return timedelta(seconds=value) if value is not None else None


def duration_text(seconds: int | None) -> str | None:
    return format_duration(timedelta(seconds=seconds)) if seconds is not None else None
