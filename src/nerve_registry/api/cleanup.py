"""Cleanup operations of the service: prune plans, their application, garbage collection, runs.

One operation runs at a time (``CleanupController.lock``). Requests that find
one running get 409 ``RUN_IN_PROGRESS``; scheduled runs wait for it. Applying a
plan and collecting garbage run in background tasks and record their progress
and outcome in a run, which ``GET /nerve/registry/runs/{id}`` returns.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session
from starlette.requests import Request

from nerve_registry.api import cleanup_records as records
from nerve_registry.api.maintenance import (
    EXTERNAL_GC_INSTRUCTIONS,
    MaintenanceControl,
    ensure_writable,
)
from nerve_registry.api.state import Services
from nerve_registry.domain import plan_apply, pruning
from nerve_registry.domain.inventory import Inventory, build_inventory
from nerve_registry.domain.plan_apply import DELETED, SKIPPED, EntryResult
from nerve_registry.domain.retention import RetentionPolicy, check_stored_expressions
from nerve_registry.errors import (
    ConflictError,
    NerveRegistryError,
    NotFoundError,
    UnsupportedOperationError,
)
from nerve_registry.store import cleanup as store
from nerve_registry.store.audit import AuditAction, record_event
from nerve_registry.store.database import transaction, utcnow

logger = logging.getLogger(__name__)

# A plan can be applied for this long after it was made.
PLAN_LIFETIME = timedelta(hours=24)

KIND_PRUNE = "prune"
KIND_GC = "gc"
KIND_PRUNE_GC = "prune-gc"

_AUDIT_ACTIONS = {
    pruning.TAG: AuditAction.TAG_DELETE,
    pruning.MANIFEST: AuditAction.MANIFEST_DELETE,
    pruning.REPOSITORY: AuditAction.REPOSITORY_DELETE,
}


class CleanupController:
    """Plans, applies and collects, one operation at a time, and records each run."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.maintenance = MaintenanceControl(services)
        self.lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Mark the runs that the last stop cut short, and restore the operator's maintenance."""
        count = await asyncio.to_thread(self._mark_interrupted)
        if count:
            logger.warning("Marked %d cleanup runs as interrupted by the last stop", count)
        await self.maintenance.restore_operator_hold()

    async def stop(self) -> None:
        """Cancel running operations; their runs end as interrupted."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def ensure_idle(self) -> None:
        if self.lock.locked():
            raise ConflictError(
                "Another cleanup operation is running; see 'nerve-registry runs' (GET "
                "/nerve/registry/runs) and retry when it has finished.",
                error_code="RUN_IN_PROGRESS",
            )

    # Plans

    async def make_plan(
        self,
        *,
        policy_names: list[str] | None,
        untagged_older_than: timedelta | None,
        created_by: str,
    ) -> dict[str, Any]:
        """Compute a plan over the whole registry, store it and return its document.

        1. Load the policies and read the registry's tags and manifests.
        2. Decide every deletion in a worker thread: for a large registry that is
           seconds of CPU time, which would stall every other request on the loop.
        3. Store the plan.
        """
        policies = await asyncio.to_thread(self._load_policies, policy_names)
        storage = self.maintenance.storage if self.maintenance.embedded else None
        inventory = await build_inventory(
            self.services.registry,
            storage=storage,
            cache=self.services.config_cache,
            concurrency=self.services.settings.registry_concurrency,
        )

        now = utcnow()
        document = await asyncio.to_thread(
            self._plan_document,
            inventory,
            policies,
            policy_names=policy_names,
            untagged_older_than=untagged_older_than,
            now=now,
        )

        return await asyncio.to_thread(self._save_plan, document, created_by, now)

    def _plan_document(
        self,
        inventory: Inventory,
        policies: list[RetentionPolicy],
        *,
        policy_names: list[str] | None,
        untagged_older_than: timedelta | None,
        now: datetime,
    ) -> dict[str, Any]:
        """Build the plan and its document; runs in a worker thread."""
        plan = pruning.build_plan(
            inventory, policies, now=now, untagged_older_than=untagged_older_than
        )
        if policy_names is None and not policies:
            plan.warnings.append("No enabled retention policy exists, so no tag is deleted.")

        return records.plan_document(
            plan,
            policies=[policy.name for policy in policies],
            policy_names=policy_names,
            untagged_older_than=untagged_older_than,
            embedded=self.maintenance.embedded,
        )

    # Runs started by requests

    async def start_apply(self, plan_id: str, *, gc: bool, triggered_by: str) -> int:
        """Claim the plan for a new run and apply it in the background; return the run id."""
        self.ensure_idle()
        if gc:
            self._require_embedded_for_gc()
        document = await asyncio.to_thread(self._load_plan, plan_id)
        if any(entry["kind"] == pruning.TAG for entry in document["entries"]):
            ensure_writable(self.services)

        await self.lock.acquire()
        try:
            kind = KIND_PRUNE_GC if gc else KIND_PRUNE
            run_id = await asyncio.to_thread(self._claim_plan, plan_id, kind, triggered_by)
        except BaseException:
            self.lock.release()
            raise

        self._spawn(self._apply_then_release(run_id, document, gc))
        return run_id

    async def start_gc(self, *, triggered_by: str) -> int:
        """Start garbage collection in the background; return the run id."""
        self._require_embedded_for_gc()
        self.ensure_idle()

        await self.lock.acquire()
        try:
            run_id = await asyncio.to_thread(
                records.create_run, self.services.database, KIND_GC, triggered_by, None, 1
            )
        except BaseException:
            self.lock.release()
            raise

        self._spawn(self._collect_then_release(run_id))
        return run_id

    async def set_maintenance(self, *, active: bool, reason: str, set_by: str) -> None:
        self.ensure_idle()
        async with self.lock:
            await self.maintenance.set_operator_hold(active, reason, set_by=set_by)

    # Runs started by the scheduler

    async def run_scheduled(
        self,
        *,
        action: str,
        policy_names: list[str] | None,
        untagged_older_than: timedelta | None,
        triggered_by: str,
    ) -> int:
        """Run one scheduled action to its end, waiting for a running operation first."""
        async with self.lock:
            if action == KIND_GC:
                run_id = await asyncio.to_thread(
                    records.create_run, self.services.database, KIND_GC, triggered_by, None, 1
                )
                await self._collect(run_id)
                return run_id

            try:
                document = await self.make_plan(
                    policy_names=policy_names,
                    untagged_older_than=untagged_older_than,
                    created_by=triggered_by,
                )
            except NerveRegistryError as error:
                # Record the failure, so that it shows among the runs.
                run_id = await asyncio.to_thread(
                    records.create_run, self.services.database, action, triggered_by, None, 0
                )
                await asyncio.to_thread(
                    records.finish_run,
                    self.services.database,
                    records.RunProgress(run_id, total=0),
                    [],
                    error=f"Making the prune plan failed: {error.message}",
                )
                return run_id

            run_id = await asyncio.to_thread(self._claim_plan, document["id"], action, triggered_by)
            await self._apply(run_id, document, gc=action == KIND_PRUNE_GC)
            return run_id

    # Execution

    def _spawn(self, coroutine: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _apply_then_release(self, run_id: int, document: dict[str, Any], gc: bool) -> None:
        try:
            await self._apply(run_id, document, gc=gc)
        finally:
            self.lock.release()

    async def _collect_then_release(self, run_id: int) -> None:
        try:
            await self._collect(run_id)
        finally:
            self.lock.release()

    async def _apply(self, run_id: int, document: dict[str, Any], *, gc: bool) -> None:
        """Apply every entry of the plan in order and record the outcome of each.

        1. Tags, through the distribution API, each only if it still has the planned digest.
        2. Untagged manifests and empty repositories, in storage, under maintenance.
        3. With ``gc``, garbage collection in the same maintenance window.
        """
        progress = records.RunProgress(run_id, total=len(document["entries"]) + int(gc))
        entries = document["entries"]
        tag_entries = [entry for entry in entries if entry["kind"] == pruning.TAG]
        storage_entries = [entry for entry in entries if entry["kind"] != pruning.TAG]

        try:
            if tag_entries and self.services.maintenance.active:
                ensure_writable(self.services)

            for entry in tag_entries:
                result = await plan_apply.delete_planned_tag(
                    self.services.registry,
                    entry["repository"],
                    entry["tag"],
                    entry["digest"],
                    concurrency=self.services.settings.registry_concurrency,
                )
                await self._record(progress, entry, result)

            if storage_entries or gc:
                async with self.maintenance.window(f"prune run {run_id}"):
                    await self._remove_in_storage(progress, storage_entries)
                    if gc:
                        report = await self.maintenance.collect()
                        progress.collection = records.collection_details(report)
                        progress.done += 1
                        await asyncio.to_thread(self._audit_collection, run_id, report.freed_bytes)
        except asyncio.CancelledError:
            await asyncio.to_thread(
                records.finish_run, self.services.database, progress, entries, interrupted=True
            )
            raise
        except NerveRegistryError as error:
            logger.error("Prune run %d failed: %s", run_id, error.message)
            await asyncio.to_thread(
                records.finish_run, self.services.database, progress, entries, error=error.message
            )
            return
        except Exception as error:
            logger.exception("Prune run %d failed unexpectedly", run_id)
            await asyncio.to_thread(
                records.finish_run, self.services.database, progress, entries, error=str(error)
            )
            return

        await asyncio.to_thread(records.finish_run, self.services.database, progress, entries)

    async def _remove_in_storage(
        self, progress: records.RunProgress, entries: list[dict[str, Any]]
    ) -> None:
        if not entries:
            return
        if not self.maintenance.embedded:
            for entry in entries:
                await self._record(
                    progress,
                    entry,
                    EntryResult(SKIPPED, "Needs the embedded registry's storage."),
                )
            return

        storage = self.maintenance.storage
        manifest_entries = [entry for entry in entries if entry["kind"] == pruning.MANIFEST]
        state = await plan_apply.read_untagged_state(
            self.services.registry,
            storage,
            [entry["repository"] for entry in entries],
            cache=self.services.config_cache,
            concurrency=self.services.settings.registry_concurrency,
        )
        for entry in manifest_entries:
            planned = {
                other["digest"]
                for other in manifest_entries
                if other["repository"] == entry["repository"]
            }
            result = await asyncio.to_thread(
                plan_apply.remove_planned_manifest,
                state,
                storage,
                entry["repository"],
                entry["digest"],
                planned=planned,
            )
            await self._record(progress, entry, result)

        for entry in entries:
            if entry["kind"] == pruning.REPOSITORY:
                result = await asyncio.to_thread(
                    plan_apply.remove_planned_repository, storage, entry["repository"]
                )
                await self._record(progress, entry, result)

    async def _collect(self, run_id: int) -> None:
        progress = records.RunProgress(run_id, total=1)
        try:
            async with self.maintenance.window(f"garbage collection, run {run_id}"):
                report = await self.maintenance.collect()
            progress.collection = records.collection_details(report)
            progress.done = 1
            await asyncio.to_thread(self._audit_collection, run_id, report.freed_bytes)
        except asyncio.CancelledError:
            await asyncio.to_thread(
                records.finish_run, self.services.database, progress, [], interrupted=True
            )
            raise
        except NerveRegistryError as error:
            logger.error("Garbage collection run %d failed: %s", run_id, error.message)
            await asyncio.to_thread(
                records.finish_run, self.services.database, progress, [], error=error.message
            )
            return
        except Exception as error:
            logger.exception("Garbage collection run %d failed unexpectedly", run_id)
            await asyncio.to_thread(
                records.finish_run, self.services.database, progress, [], error=str(error)
            )
            return

        await asyncio.to_thread(records.finish_run, self.services.database, progress, [])

    async def _record(
        self, progress: records.RunProgress, entry: dict[str, Any], result: EntryResult
    ) -> None:
        progress.add(entry, result)
        await asyncio.to_thread(records.save_progress, self.services.database, progress)
        if result.status == DELETED:
            await asyncio.to_thread(self._audit_deletion, progress.run_id, entry)

    # Database steps, run in a thread

    def _audit_deletion(self, run_id: int, entry: dict[str, Any]) -> None:
        target = entry["repository"]
        if entry["kind"] == pruning.TAG:
            target = f"{target}:{entry['tag']}"
        elif entry["kind"] == pruning.MANIFEST:
            target = f"{target}@{entry['digest']}"

        with transaction(self.services.database) as session:
            record_event(
                session,
                _AUDIT_ACTIONS[entry["kind"]],
                actor=_run_actor(session, run_id),
                target=target,
                digest=entry.get("digest"),
                detail=f"cleanup run {run_id}",
            )

    def _audit_collection(self, run_id: int, freed_bytes: int) -> None:
        with transaction(self.services.database) as session:
            record_event(
                session,
                AuditAction.GARBAGE_COLLECT,
                actor=_run_actor(session, run_id),
                target="registry storage",
                detail=f"cleanup run {run_id}, freed {freed_bytes} bytes",
            )

    def _mark_interrupted(self) -> int:
        with transaction(self.services.database) as session:
            return store.mark_interrupted_runs(session)

    def _load_policies(self, names: list[str] | None) -> list[RetentionPolicy]:
        with transaction(self.services.database) as session:
            stored = store.list_policies(session)
        by_name = {record.name: record for record in stored}
        if names is None:
            policies = [records.policy_from_record(r) for r in stored if r.enabled]
        else:
            missing = [name for name in names if name not in by_name]
            if missing:
                raise records.policy_not_found(missing[0])
            # Named policies apply even when disabled, so a new policy can be previewed.
            policies = [records.policy_from_record(by_name[name], enabled=True) for name in names]

        for policy in policies:
            check_stored_expressions(policy)
        return policies

    def _save_plan(
        self, document: dict[str, Any], created_by: str, now: datetime
    ) -> dict[str, Any]:
        with transaction(self.services.database) as session:
            record = store.save_plan(
                session,
                document,
                created_by=created_by,
                created_at=now,
                expires_at=now + PLAN_LIFETIME,
            )
            return records.stored_plan_document(record)

    def _load_plan(self, plan_id: str) -> dict[str, Any]:
        with transaction(self.services.database) as session:
            record = store.get_plan(session, plan_id)
            if record is None:
                raise NotFoundError(
                    f"Prune plan '{plan_id}' not found; make one with 'nerve-registry prune' "
                    "(POST /nerve/registry/prune/plan).",
                    error_code="PLAN_NOT_FOUND",
                )
            if record.run_id is not None:
                raise ConflictError(
                    f"Prune plan '{plan_id}' was already applied by run {record.run_id}; make "
                    "a new plan.",
                    error_code="PLAN_ALREADY_APPLIED",
                )
            if record.expires_at <= utcnow():
                raise ConflictError(
                    f"Prune plan '{plan_id}' expired at {record.expires_at.isoformat()}; make "
                    "a new plan.",
                    error_code="PLAN_EXPIRED",
                )
            return records.stored_plan_document(record)

    def _claim_plan(self, plan_id: str, kind: str, triggered_by: str) -> int:
        with transaction(self.services.database) as session:
            record = store.get_plan(session, plan_id)
            if record is None:
                raise NotFoundError(
                    f"Prune plan '{plan_id}' not found.", error_code="PLAN_NOT_FOUND"
                )
            run = store.create_run(session, kind=kind, triggered_by=triggered_by, plan_id=plan_id)
            run.progress_total = len(record.document["entries"]) + int(kind == KIND_PRUNE_GC)
            run.estimated_freed_bytes = int(record.document.get("freedBytes", 0))
            if not store.claim_plan(session, plan_id, run.id):
                raise ConflictError(
                    f"Prune plan '{plan_id}' was already applied; make a new plan.",
                    error_code="PLAN_ALREADY_APPLIED",
                )
            return run.id

    def _require_embedded_for_gc(self) -> None:
        if not self.maintenance.embedded:
            raise UnsupportedOperationError(
                EXTERNAL_GC_INSTRUCTIONS, error_code="EXTERNAL_REGISTRY"
            )


def _run_actor(session: Session, run_id: int) -> str:
    """Return who started a run: the account name, or ``schedule:NAME`` for a schedule."""
    run = store.get_run(session, run_id)
    if run is None:
        return "unknown"
    return run.triggered_by.removeprefix("account:")


def cleanup_of(request: Request) -> CleanupController:
    controller: CleanupController = request.app.state.cleanup
    return controller
