"""Audit log: who deleted, logged in and failed, changed accounts or received write tokens.

Each event records who (``actor``), what (``action``, ``target``, ``digest``),
when (``occurred_at``, UTC) and from where (``client_address``). The actor is
an account name, the attempted account name of a failed login, or
``local:OS_USER`` for a ``nerve-registry`` command run on the host.

NOTE: events are never deleted. At one event per push or deletion the table
grows slowly, but nothing caps its size.
"""

from __future__ import annotations

import enum
import getpass
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Index, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from nerve_registry.store.database import Base, UTCDateTime, utcnow

logger = logging.getLogger(__name__)

MAX_ACTOR_LENGTH = 256
MAX_TARGET_LENGTH = 1024
MAX_DETAIL_LENGTH = 1024
MAX_QUERY_LIMIT = 1000


class AuditAction(enum.StrEnum):
    LOGIN_FAILURE = "login.failure"
    LOGIN_LOCKOUT = "login.lockout"
    TAG_DELETE = "tag.delete"
    MANIFEST_DELETE = "manifest.delete"
    REPOSITORY_DELETE = "repository.delete"
    GARBAGE_COLLECT = "gc.collect"
    TOKEN_GRANT = "token.grant"  # noqa: S105 - an event name, not a secret
    ACCOUNT_CREATE = "account.create"
    ACCOUNT_REMOVE = "account.remove"
    ACCOUNT_PASSWORD = "account.password"  # noqa: S105 - an event name, not a password
    ACCOUNT_ROLE = "account.role"
    SHARE_CREATE = "share.create"
    SHARE_REMOVE = "share.remove"


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_actor_id", "actor", "id"),
        Index("ix_audit_events_action_id", "action", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor: Mapped[str] = mapped_column(String(MAX_ACTOR_LENGTH))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(MAX_TARGET_LENGTH), default="")
    digest: Mapped[str | None] = mapped_column(String(80), nullable=True)
    client_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[str] = mapped_column(String(MAX_DETAIL_LENGTH), default="")


@dataclass(frozen=True)
class AuditQuery:
    """Filters of an audit log query. Events come newest first, at most ``limit`` of them.

    ``before_id`` continues a previous page: only events with a smaller id.
    """

    limit: int = 100
    since: datetime | None = None
    until: datetime | None = None
    actor: str | None = None
    action: str | None = None
    before_id: int | None = None


def local_actor() -> str:
    """Return the actor name of a command run on the host: ``local:`` and the OS user."""
    try:
        return f"local:{getpass.getuser()}"
    except (KeyError, OSError):
        return "local:unknown"


def record_event(
    session: Session,
    action: AuditAction,
    *,
    actor: str,
    target: str = "",
    digest: str | None = None,
    client_address: str | None = None,
    detail: str = "",
    now: datetime | None = None,
) -> AuditEvent:
    """Add one event to the session; it is stored when the caller's transaction commits.

    Long values are cut to the column sizes, so recording never fails on length.
    """
    event = AuditEvent(
        occurred_at=now or utcnow(),
        actor=actor[:MAX_ACTOR_LENGTH],
        action=action.value,
        target=target[:MAX_TARGET_LENGTH],
        digest=digest[:80] if digest else None,
        client_address=client_address[:64] if client_address else None,
        detail=detail[:MAX_DETAIL_LENGTH],
    )
    session.add(event)
    return event


def query_events(session: Session, query: AuditQuery) -> list[AuditEvent]:
    """Return the events that match ``query``, newest first."""
    statement = select(AuditEvent)
    if query.since is not None:
        statement = statement.where(AuditEvent.occurred_at >= query.since)
    if query.until is not None:
        statement = statement.where(AuditEvent.occurred_at < query.until)
    if query.actor is not None:
        statement = statement.where(AuditEvent.actor == query.actor)
    if query.action is not None:
        statement = statement.where(AuditEvent.action == query.action)
    if query.before_id is not None:
        statement = statement.where(AuditEvent.id < query.before_id)

    limit = max(1, min(query.limit, MAX_QUERY_LIMIT))
    statement = statement.order_by(AuditEvent.id.desc()).limit(limit)
    return list(session.scalars(statement))
