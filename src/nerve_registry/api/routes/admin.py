"""Administrator endpoints: shares of repositories with accounts, and the audit log."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from nerve_registry.api.auth import AdminAccount
from nerve_registry.api.credentials import client_address, validate_identity
from nerve_registry.api.schemas import (
    AuditEventEntry,
    AuditResponse,
    ErrorBody,
    ShareEntry,
    ShareRequest,
    SharesResponse,
)
from nerve_registry.api.state import services_of
from nerve_registry.domain.configs import format_timestamp
from nerve_registry.domain.references import shown_value
from nerve_registry.errors import InvalidInputError
from nerve_registry.store.accounts import share, unshare
from nerve_registry.store.audit import (
    MAX_ACTOR_LENGTH,
    MAX_QUERY_LIMIT,
    AuditAction,
    AuditEvent,
    AuditQuery,
    query_events,
)
from nerve_registry.store.database import transaction
from nerve_registry.store.shares import Share, list_shares

router = APIRouter(prefix="/nerve/registry", tags=["administration"])

_ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorBody, "description": "Invalid input; the message names the field."},
    403: {"model": ErrorBody, "description": "No valid session, or not an administrator."},
}
_SHARE_ERRORS: dict[int | str, dict[str, object]] = {
    **_ERRORS,
    404: {"model": ErrorBody, "description": "Unknown account or share."},
    409: {"model": ErrorBody, "description": "The pattern is already shared with the account."},
}


@router.get(
    "/shares",
    response_model=SharesResponse,
    response_model_by_alias=True,
    responses=_ERRORS,
    summary="List the repository shares, of every account or of one",
)
def get_shares(
    request: Request,
    admin: AdminAccount,
    account: Annotated[str | None, Query(max_length=256)] = None,
) -> SharesResponse:
    services = services_of(request)
    if account is not None:
        validate_identity(account, "account")

    with transaction(services.database) as session:
        entries = [_share_entry(entry) for entry in list_shares(session, account)]
    return SharesResponse(shares=entries)


@router.post(
    "/shares",
    status_code=201,
    response_model=ShareEntry,
    response_model_by_alias=True,
    responses=_SHARE_ERRORS,
    summary="Let an account pull the repositories that match a pattern",
)
def create_share(body: ShareRequest, request: Request, admin: AdminAccount) -> ShareEntry:
    services = services_of(request)
    account = validate_identity(body.account, "account")

    with transaction(services.database) as session:
        created = share(
            session,
            account,
            body.pattern,
            actor=admin.name,
            client_address=client_address(request),
        )
        return _share_entry(created)


@router.delete(
    "/shares/{share_id}",
    response_model=ShareEntry,
    response_model_by_alias=True,
    responses=_SHARE_ERRORS,
    summary="Remove a share; the account keeps tokens it already has until they expire",
)
def delete_share(
    request: Request,
    admin: AdminAccount,
    share_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
) -> ShareEntry:
    services = services_of(request)
    with transaction(services.database) as session:
        removed = unshare(
            session, share_id, actor=admin.name, client_address=client_address(request)
        )
        return _share_entry(removed)


@router.get(
    "/audit",
    response_model=AuditResponse,
    response_model_by_alias=True,
    responses=_ERRORS,
    summary="Read the audit log, newest first",
)
def get_audit(
    request: Request,
    admin: AdminAccount,
    limit: Annotated[int, Query(ge=1, le=MAX_QUERY_LIMIT)] = 100,
    since: Annotated[str | None, Query(max_length=64, description="RFC 3339 time.")] = None,
    until: Annotated[str | None, Query(max_length=64, description="RFC 3339 time.")] = None,
    actor: Annotated[str | None, Query(max_length=MAX_ACTOR_LENGTH)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    before: Annotated[
        int | None, Query(ge=1, le=2**63 - 1, description="A previous page's 'next'.")
    ] = None,
) -> AuditResponse:
    services = services_of(request)
    since_time = _parse_time(since, "since")
    until_time = _parse_time(until, "until")
    if since_time is not None and until_time is not None and since_time >= until_time:
        raise InvalidInputError(
            f"Field 'since' ({since}) must be earlier than field 'until' ({until})."
        )

    query = AuditQuery(
        limit=limit + 1,
        since=since_time,
        until=until_time,
        actor=_check_actor(actor),
        action=_check_action(action),
        before_id=before,
    )

    with transaction(services.database) as session:
        events = [_event_entry(event) for event in query_events(session, query)]

    following = events[limit - 1].id if len(events) > limit else None
    return AuditResponse(events=events[:limit], next=following)


def _share_entry(entry: Share) -> ShareEntry:
    return ShareEntry(
        id=entry.id,
        account=entry.user.name,
        pattern=entry.pattern,
        createdAt=format_timestamp(entry.created_at) or "",
        createdBy=entry.created_by,
    )


def _event_entry(event: AuditEvent) -> AuditEventEntry:
    return AuditEventEntry(
        id=event.id,
        time=format_timestamp(event.occurred_at) or "",
        actor=event.actor,
        action=event.action,
        target=event.target,
        digest=event.digest,
        clientAddress=event.client_address,
        detail=event.detail,
    )


def _parse_time(value: str | None, field: str) -> datetime | None:
    """Parse an RFC 3339 time; a time without an offset is taken as UTC."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError) as error:
        raise InvalidInputError(
            f"Parameter '{field}' is {shown_value(value)}, not an RFC 3339 time such as "
            "2024-05-01T12:00:00Z."
        ) from error


def _check_actor(actor: str | None) -> str | None:
    if actor is not None and any(not character.isprintable() for character in actor):
        raise InvalidInputError(
            f"Parameter 'actor' contains control characters: {shown_value(actor)}."
        )
    return actor


def _check_action(action: str | None) -> str | None:
    known = [entry.value for entry in AuditAction]
    if action is not None and action not in known:
        raise InvalidInputError(
            f"Parameter 'action' is {shown_value(action)}; use one of {', '.join(known)}."
        )
    return action
