"""Cleanup endpoints for administrators: policies, prune plans, garbage collection, runs.

Applying a plan and collecting garbage return 202 with the new run at once;
``GET /nerve/registry/runs/{id}`` shows its progress and outcome.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi import Path as FastAPIPath

from nerve_registry.api import cleanup_records as records
from nerve_registry.api.auth import AdminAccount
from nerve_registry.api.cleanup import KIND_GC, KIND_PRUNE_GC, cleanup_of
from nerve_registry.api.cleanup_schemas import (
    ApplyRequest,
    EmptyRequest,
    MaintenanceRequest,
    MaintenanceResponse,
    PlanRequest,
    PlanResponse,
    PolicyBody,
    PolicyList,
    PolicyResponse,
    RunList,
    RunResponse,
    ScheduleBody,
    ScheduleList,
    ScheduleResponse,
    UntaggedReport,
)
from nerve_registry.api.maintenance import ensure_writable
from nerve_registry.api.schemas import ErrorBody
from nerve_registry.api.state import services_of
from nerve_registry.domain import cron, retention
from nerve_registry.domain.configs import format_timestamp
from nerve_registry.domain.inventory import build_inventory
from nerve_registry.errors import ConflictError, InvalidInputError, NotFoundError
from nerve_registry.store import cleanup as store
from nerve_registry.store.database import transaction, utcnow

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/nerve/registry", tags=["cleanup"])

MAX_RUNS = 1000
# Largest id that SQLite and PostgreSQL bigint columns hold.
MAX_ROW_ID = 2**63 - 1
_PLAN_ID_RE = re.compile(r"[a-f0-9]{32}")

_ERRORS: dict[int | str, dict[str, object]] = {
    400: {
        "model": ErrorBody,
        "description": "Invalid input, or an unknown field in the body; the message names "
        "the field.",
    },
    403: {"model": ErrorBody, "description": "No valid session, or not an administrator."},
}
_NOT_FOUND: dict[int | str, dict[str, object]] = {
    404: {"model": ErrorBody, "description": "Unknown policy, plan, schedule or run."},
}
_CONFLICT: dict[int | str, dict[str, object]] = {
    409: {
        "model": ErrorBody,
        "description": "Another cleanup runs, the plan was applied or expired, or the "
        "registry is external.",
    },
    503: {"model": ErrorBody, "description": "The registry is unreachable or in maintenance."},
}


# Policies


@router.get("/policies", response_model=PolicyList, responses=_ERRORS, summary="List policies")
def list_policies(request: Request, account: AdminAccount) -> dict[str, Any]:
    with transaction(services_of(request).database) as session:
        return {"policies": [records.policy_document(r) for r in store.list_policies(session)]}


@router.get(
    "/policies/{name}",
    response_model=PolicyResponse,
    responses={**_ERRORS, **_NOT_FOUND},
    summary="Show one retention policy",
)
def get_policy(name: str, request: Request, account: AdminAccount) -> dict[str, Any]:
    retention.validate_policy_name(name)
    with transaction(services_of(request).database) as session:
        return records.policy_document(_policy_or_404(session, name))


@router.put(
    "/policies/{name}",
    response_model=PolicyResponse,
    responses={**_ERRORS, 201: {"model": PolicyResponse, "description": "Created."}},
    summary="Create or replace a retention policy",
)
def put_policy(
    name: str, body: PolicyBody, request: Request, response: Response, account: AdminAccount
) -> dict[str, Any]:
    record = _policy_record(name, body)
    with transaction(services_of(request).database) as session:
        stored, created = store.put_policy(session, record)
        session.flush()
        document = records.policy_document(stored)

    logger.info("Account %s %s retention policy %s", account.name, _verb(created), name)
    response.status_code = 201 if created else 200
    return document


@router.delete(
    "/policies/{name}",
    status_code=204,
    responses={
        **_ERRORS,
        **_NOT_FOUND,
        409: {"model": ErrorBody, "description": "A schedule names the policy."},
    },
    summary="Delete a retention policy",
)
def delete_policy(name: str, request: Request, account: AdminAccount) -> Response:
    retention.validate_policy_name(name)
    with transaction(services_of(request).database) as session:
        # A schedule that names a missing policy would fail at every firing.
        schedules = store.schedules_applying(session, name)
        if schedules:
            raise ConflictError(
                f"Retention policy '{name}' is applied by the schedules "
                f"{', '.join(schedules)}; change them with 'nerve-registry schedule set' or "
                "delete them first.",
                error_code="POLICY_IN_USE",
            )
        if not store.delete_policy(session, name):
            raise records.policy_not_found(name)
    logger.info("Account %s deleted retention policy %s", account.name, name)
    return Response(status_code=204)


# Plans and runs


@router.post(
    "/prune/plan",
    response_model=PlanResponse,
    response_model_by_alias=True,
    responses={**_ERRORS, **_NOT_FOUND, **_CONFLICT},
    summary="Compute what the policies would delete and what that frees; deletes nothing",
)
async def make_plan(body: PlanRequest, request: Request, account: AdminAccount) -> dict[str, Any]:
    names = (
        [retention.validate_policy_name(n, f"policies[{i}]") for i, n in enumerate(body.policies)]
        if body.policies is not None
        else None
    )
    untagged = (
        retention.parse_duration(body.untagged_older_than, "untaggedOlderThan")
        if body.untagged_older_than is not None
        else None
    )

    document = await cleanup_of(request).make_plan(
        policy_names=names, untagged_older_than=untagged, created_by=account.name
    )
    logger.info(
        "Account %s made prune plan %s with %d entries",
        account.name,
        document["id"],
        len(document["entries"]),
    )
    return document


@router.get(
    "/prune/plans/{plan_id}",
    response_model=PlanResponse,
    response_model_by_alias=True,
    responses={**_ERRORS, **_NOT_FOUND},
    summary="Show a stored prune plan",
)
def get_plan(plan_id: str, request: Request, account: AdminAccount) -> dict[str, Any]:
    with transaction(services_of(request).database) as session:
        record = store.get_plan(session, plan_id) if _PLAN_ID_RE.fullmatch(plan_id) else None
        if record is None:
            raise NotFoundError(f"Prune plan '{plan_id}' not found.", error_code="PLAN_NOT_FOUND")
        return records.stored_plan_document(record)


@router.post(
    "/prune/apply",
    status_code=202,
    response_model=RunResponse,
    response_model_by_alias=True,
    responses={**_ERRORS, **_NOT_FOUND, **_CONFLICT},
    summary="Apply a plan in the background: exactly its entries, each only if unchanged",
)
async def apply_plan(body: ApplyRequest, request: Request, account: AdminAccount) -> dict[str, Any]:
    if not _PLAN_ID_RE.fullmatch(body.plan_id):
        raise NotFoundError(f"Prune plan '{body.plan_id}' not found.", error_code="PLAN_NOT_FOUND")

    run_id = await cleanup_of(request).start_apply(
        body.plan_id, gc=body.gc, triggered_by=f"account:{account.name}"
    )
    logger.info("Account %s applies plan %s in run %d", account.name, body.plan_id, run_id)
    return await asyncio.to_thread(_run_document, request, run_id)


@router.post(
    "/gc",
    status_code=202,
    response_model=RunResponse,
    response_model_by_alias=True,
    responses={**_ERRORS, **_CONFLICT},
    summary="Collect garbage in read-only maintenance and measure the bytes freed",
)
async def collect_garbage(
    request: Request, account: AdminAccount, body: EmptyRequest | None = None
) -> dict[str, Any]:
    # The body has no fields; declaring it rejects unknown ones such as "dryRun" with 400.
    run_id = await cleanup_of(request).start_gc(triggered_by=f"account:{account.name}")
    logger.info("Account %s started garbage collection run %d", account.name, run_id)
    return await asyncio.to_thread(_run_document, request, run_id)


@router.get("/runs", response_model=RunList, responses=_ERRORS, summary="List recent runs")
def list_runs(
    request: Request,
    account: AdminAccount,
    limit: Annotated[int, Query(ge=1, le=MAX_RUNS)] = 20,
) -> dict[str, Any]:
    with transaction(services_of(request).database) as session:
        return {
            "runs": [records.run_document(run) for run in store.list_runs(session, limit=limit)]
        }


@router.get(
    "/runs/{run_id}",
    response_model=RunResponse,
    responses={**_ERRORS, **_NOT_FOUND},
    summary="Show one run with its progress and outcome",
)
def get_run(
    run_id: Annotated[int, FastAPIPath(ge=1, le=MAX_ROW_ID)],
    request: Request,
    account: AdminAccount,
) -> dict[str, Any]:
    # Without the bound, an id above SQLite's 64-bit integers fails in the database (500).
    return _run_document(request, run_id)


@router.get(
    "/untagged",
    response_model=UntaggedReport,
    responses=_ERRORS,
    summary="List untagged manifests and repositories without tags",
)
async def untagged_report(request: Request, account: AdminAccount) -> dict[str, Any]:
    services = services_of(request)
    controller = cleanup_of(request)
    storage = controller.maintenance.storage if controller.maintenance.embedded else None
    inventory = await build_inventory(
        services.registry,
        storage=storage,
        cache=services.config_cache,
        concurrency=services.settings.registry_concurrency,
    )

    manifests = []
    repositories = []
    for name, content in inventory.repositories.items():
        untagged = inventory.untagged(name)
        for digest, pushed in sorted(untagged.items(), key=lambda item: item[1]):
            # A manifest the registry returned but could not parse has no node.
            node = inventory.manifests.get(digest)
            manifests.append(
                {
                    "repository": name,
                    "digest": digest,
                    "mediaType": node.media_type if node else "",
                    "size": node.size + sum(node.blobs.values()) if node else 0,
                    "created": format_timestamp(node.created) if node else None,
                    "pushed": format_timestamp(pushed),
                }
            )
        if not content.tags:
            repositories.append({"name": name, "untaggedManifests": len(untagged)})

    return {
        "manifests": manifests,
        "repositories": repositories,
        "manifestsListed": inventory.revisions_known,
    }


# Maintenance


@router.get(
    "/maintenance",
    response_model=MaintenanceResponse,
    responses=_ERRORS,
    summary="Show whether the registry is in read-only maintenance",
)
def get_maintenance(request: Request, account: AdminAccount) -> dict[str, Any]:
    return _maintenance_document(request)


@router.post(
    "/maintenance",
    response_model=MaintenanceResponse,
    responses={**_ERRORS, **_CONFLICT},
    summary="Turn read-only maintenance on or off",
)
async def set_maintenance(
    body: MaintenanceRequest, request: Request, account: AdminAccount
) -> dict[str, Any]:
    reason = body.reason.strip() or f"maintenance by {account.name}"
    await cleanup_of(request).set_maintenance(
        active=body.active, reason=reason, set_by=account.name
    )
    logger.info("Account %s turned maintenance %s", account.name, "on" if body.active else "off")
    return _maintenance_document(request)


# Schedules


@router.get("/schedules", response_model=ScheduleList, responses=_ERRORS, summary="List schedules")
async def list_schedules(request: Request, account: AdminAccount) -> dict[str, Any]:
    return {"schedules": await asyncio.to_thread(_schedule_documents, request, None)}


@router.get(
    "/schedules/{name}",
    response_model=ScheduleResponse,
    responses={**_ERRORS, **_NOT_FOUND},
    summary="Show one schedule with its next run time",
)
async def get_schedule(name: str, request: Request, account: AdminAccount) -> dict[str, Any]:
    retention.validate_policy_name(name)
    documents = await asyncio.to_thread(_schedule_documents, request, name)
    if not documents:
        raise _schedule_not_found(name)
    return documents[0]


@router.put(
    "/schedules/{name}",
    response_model=ScheduleResponse,
    responses={**_ERRORS, 201: {"model": ScheduleResponse, "description": "Created."}},
    summary="Create or replace a schedule for prune, gc or both",
)
async def put_schedule(
    name: str, body: ScheduleBody, request: Request, response: Response, account: AdminAccount
) -> dict[str, Any]:
    record = _schedule_record(name, body)
    created = await asyncio.to_thread(_store_schedule, request, record)
    _notify_scheduler(request)

    logger.info("Account %s %s schedule %s", account.name, _verb(created), name)
    response.status_code = 201 if created else 200
    documents = await asyncio.to_thread(_schedule_documents, request, name)
    return documents[0]


@router.delete(
    "/schedules/{name}",
    status_code=204,
    responses={**_ERRORS, **_NOT_FOUND},
    summary="Delete a schedule",
)
async def delete_schedule(name: str, request: Request, account: AdminAccount) -> Response:
    retention.validate_policy_name(name)
    if not await asyncio.to_thread(_remove_schedule, request, name):
        raise _schedule_not_found(name)
    _notify_scheduler(request)
    logger.info("Account %s deleted schedule %s", account.name, name)
    return Response(status_code=204)


@router.post(
    "/schedules/{name}/run",
    status_code=202,
    response_model=RunResponse,
    response_model_by_alias=True,
    responses={**_ERRORS, **_NOT_FOUND, **_CONFLICT},
    summary="Run a schedule's action now",
)
async def run_schedule(
    name: str, request: Request, account: AdminAccount, body: EmptyRequest | None = None
) -> dict[str, Any]:
    retention.validate_policy_name(name)
    documents = await asyncio.to_thread(_schedule_documents, request, name)
    if not documents:
        raise _schedule_not_found(name)
    schedule = documents[0]
    controller = cleanup_of(request)
    triggered_by = store.manual_schedule_trigger(account.name, name)

    if schedule["action"] == KIND_GC:
        run_id = await controller.start_gc(triggered_by=triggered_by)
    else:
        controller.ensure_idle()
        # Policies can delete tags, which maintenance rejects: fail before planning.
        if schedule["policies"] != []:
            ensure_writable(services_of(request))
        untagged = schedule["untaggedOlderThan"]
        plan = await controller.make_plan(
            policy_names=schedule["policies"],
            untagged_older_than=retention.parse_duration(untagged, "untaggedOlderThan")
            if untagged
            else None,
            created_by=triggered_by,
        )
        run_id = await controller.start_apply(
            plan["id"], gc=schedule["action"] == KIND_PRUNE_GC, triggered_by=triggered_by
        )
    return await asyncio.to_thread(_run_document, request, run_id)


# Helpers


def _policy_record(name: str, body: PolicyBody) -> store.PolicyRecord:
    """Validate every field of the body and build the record to store."""
    retention.validate_policy_name(name)
    return store.PolicyRecord(
        name=name,
        priority=body.priority,
        repositories=list(
            retention.validate_repository_patterns(body.repositories, "repositories")
        ),
        keep_last=retention.validate_keep_last(body.keep_last),
        older_than_seconds=_seconds_of(body.older_than, "olderThan"),
        include=retention.validate_expression(body.include, "include")
        if body.include is not None
        else None,
        exclude=retention.validate_expression(body.exclude, "exclude")
        if body.exclude is not None
        else None,
        protect=list(retention.validate_protected_tags(body.protect, "protect")),
        untagged_older_than_seconds=_seconds_of(body.untagged_older_than, "untaggedOlderThan"),
        time_source=body.time_source,
        enabled=body.enabled,
    )


def _schedule_record(name: str, body: ScheduleBody) -> store.ScheduleRecord:
    """Validate every field of the body, except that the policies exist, and build the record."""
    retention.validate_policy_name(name)
    policies = (
        [retention.validate_policy_name(p, f"policies[{i}]") for i, p in enumerate(body.policies)]
        if body.policies is not None
        else None
    )
    expression = cron.validate_cron(body.cron)
    timezone = cron.validate_timezone(body.timezone)
    cron.validate_fires(expression, timezone, now=utcnow())

    return store.ScheduleRecord(
        name=name,
        cron=expression,
        timezone=timezone,
        action=body.action,
        policies=policies,
        untagged_older_than_seconds=_seconds_of(body.untagged_older_than, "untaggedOlderThan"),
        enabled=body.enabled,
    )


def _seconds_of(text: str | None, field: str) -> int | None:
    if text is None:
        return None
    return int(retention.parse_duration(text, field).total_seconds())


def _policy_or_404(session: Any, name: str) -> store.PolicyRecord:
    record = store.get_policy(session, name)
    if record is None:
        raise records.policy_not_found(name)
    return record


def _schedule_not_found(name: str) -> NotFoundError:
    return NotFoundError(
        f"Schedule '{name}' not found; list the schedules with 'nerve-registry schedule list' "
        "(GET /nerve/registry/schedules).",
        error_code="SCHEDULE_NOT_FOUND",
    )


def _run_document(request: Request, run_id: int) -> dict[str, Any]:
    with transaction(services_of(request).database) as session:
        run = store.get_run(session, run_id)
        if run is None:
            raise NotFoundError(f"Run {run_id} not found.", error_code="RUN_NOT_FOUND")
        return records.run_document(run)


def _maintenance_document(request: Request) -> dict[str, Any]:
    services = services_of(request)
    controller = cleanup_of(request)
    state = services.maintenance
    supervisor = services.supervisor
    return {
        "active": state.active,
        "reason": state.reason,
        "since": format_timestamp(state.since),
        "operatorHold": controller.maintenance.operator_hold,
        "registryReadOnly": bool(supervisor is not None and supervisor.read_only),
    }


def _store_schedule(request: Request, record: store.ScheduleRecord) -> bool:
    """Store the schedule if every policy it names exists; return whether it is new."""
    with transaction(services_of(request).database) as session:
        for index, policy in enumerate(record.policies or []):
            if store.get_policy(session, policy) is None:
                raise NotFoundError(
                    f"Field 'policies[{index}]' names the retention policy '{policy}', which "
                    "does not exist; list the policies with 'nerve-registry policy list' (GET "
                    "/nerve/registry/policies).",
                    error_code="POLICY_NOT_FOUND",
                )
        _stored, created = store.put_schedule(session, record)
        return created


def _remove_schedule(request: Request, name: str) -> bool:
    with transaction(services_of(request).database) as session:
        return store.delete_schedule(session, name)


def _schedule_documents(request: Request, name: str | None) -> list[dict[str, Any]]:
    with transaction(services_of(request).database) as session:
        if name is None:
            found = store.list_schedules(session)
        else:
            record = store.get_schedule(session, name)
            found = [record] if record is not None else []
        return [
            _schedule_document(record, store.last_schedule_run(session, record.name))
            for record in found
        ]


def _schedule_document(
    record: store.ScheduleRecord, last_run: store.RunRecord | None
) -> dict[str, Any]:
    """Return the schedule's document; one that cannot run gets ``error`` and no next run."""
    base = max(record.last_fired_at or record.updated_at, record.updated_at, utcnow())
    next_run = None
    error = None
    try:
        next_run = cron.next_fire_time(record.cron, record.timezone, base)
    except InvalidInputError as invalid:
        error = invalid.message

    return {
        "name": record.name,
        "cron": record.cron,
        "timezone": record.timezone,
        "action": record.action,
        "policies": record.policies,
        "untaggedOlderThan": records.duration_text(record.untagged_older_than_seconds),
        "enabled": record.enabled,
        "createdAt": format_timestamp(record.created_at),
        "updatedAt": format_timestamp(record.updated_at),
        "lastFiredAt": format_timestamp(record.last_fired_at),
        "lastRun": {
            "id": last_run.id,
            "status": last_run.status,
            "startedAt": format_timestamp(last_run.started_at),
        }
        if last_run is not None
        else None,
        "nextRunAt": format_timestamp(next_run) if record.enabled else None,
        "error": error,
    }


def _notify_scheduler(request: Request) -> None:
    scheduler = getattr(request.app.state, "scheduler", None)
    if scheduler is not None:
        scheduler.notify()


def _verb(created: bool) -> str:
    return "created" if created else "replaced"
