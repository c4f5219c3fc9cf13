"""Cleanup records: retention policies, schedules, prune plans, runs and operator maintenance.

Durations are stored in seconds. Lists and plan documents are stored as JSON.
Validation of field values happens in the API layer before anything is stored.

Seconds and byte counts use 64-bit columns: PostgreSQL's 32-bit ``integer``
ends at 2147483647, which is about 68 years or 2 GiB.

NOTE: create_schema does not alter existing tables, so a PostgreSQL database
created before these columns were 64-bit keeps 32-bit ones until they are
changed with ALTER TABLE ... ALTER COLUMN ... TYPE bigint.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Integer,
    String,
    Text,
    delete,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from nerve_registry.store.database import Base, UTCDateTime, utcnow

logger = logging.getLogger(__name__)

# Run states. A run that was still running when the service stopped is marked
# interrupted at the next start.
RUN_RUNNING = "running"
RUN_SUCCEEDED = "succeeded"
RUN_PARTIAL = "partial"
RUN_FAILED = "failed"
RUN_INTERRUPTED = "interrupted"
INTERRUPTED_MESSAGE = "The service stopped while this run was in progress."

# The single row of MaintenanceRecord.
_MAINTENANCE_ROW = 1


class PolicyRecord(Base):
    __tablename__ = "retention_policies"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    priority: Mapped[int] = mapped_column(Integer)
    repositories: Mapped[list[str]] = mapped_column(JSON)
    keep_last: Mapped[int | None] = mapped_column(Integer, nullable=True)
    older_than_seconds: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    include: Mapped[str | None] = mapped_column(Text, nullable=True)
    exclude: Mapped[str | None] = mapped_column(Text, nullable=True)
    protect: Mapped[list[str]] = mapped_column(JSON)
    untagged_older_than_seconds: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    time_source: Mapped[str] = mapped_column(String(16))
    enabled: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ScheduleRecord(Base):
    __tablename__ = "cleanup_schedules"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    cron: Mapped[str] = mapped_column(String(256))
    timezone: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))
    # Names of the policies a prune applies; None means every enabled policy.
    policies: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    untagged_older_than_seconds: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The scheduled time of the last run that the scheduler started.
    last_fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class PlanRecord(Base):
    __tablename__ = "prune_plans"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    created_by: Mapped[str] = mapped_column(String(128))
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    run_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class RunRecord(Base):
    __tablename__ = "cleanup_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    triggered_by: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    plan_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    progress_done: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int] = mapped_column(Integer, default=0)
    estimated_freed_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    freed_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # deleted, skipped and failed entries, and the collector's summary.
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    message: Mapped[str] = mapped_column(Text, default="")


class MaintenanceRecord(Base):
    """The operator's maintenance (``maintenance on``), kept so that a restart restores it.

    The table has one row while the operator's maintenance is on and none otherwise.
    The maintenance that a cleanup operation starts for itself is not stored.
    """

    __tablename__ = "operator_maintenance"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    since: Mapped[datetime] = mapped_column(UTCDateTime())
    set_by: Mapped[str] = mapped_column(String(128))


def schedule_trigger(name: str) -> str:
    """Return ``triggered_by`` of a run that the scheduler started for schedule ``name``."""
    return f"schedule:{name}"


def manual_schedule_trigger(account: str, name: str) -> str:
    """Return ``triggered_by`` of a run that ``account`` started with ``schedule run NAME``."""
    return f"account:{account} (schedule {name})"


def list_policies(session: Session) -> list[PolicyRecord]:
    statement = select(PolicyRecord).order_by(PolicyRecord.priority, PolicyRecord.name)
    return list(session.scalars(statement))


def get_policy(session: Session, name: str) -> PolicyRecord | None:
    return session.get(PolicyRecord, name)


def put_policy(session: Session, record: PolicyRecord) -> tuple[PolicyRecord, bool]:
    """Insert the policy or replace the one of the same name; return it and whether it is new."""
    existing = session.get(PolicyRecord, record.name)
    if existing is None:
        record.created_at = record.updated_at = utcnow()
        session.add(record)
        logger.info("Created retention policy %s", record.name)
        return record, True

    for column in PolicyRecord.__table__.columns.keys():  # noqa: SIM118 - names, not Column objects
        if column not in ("name", "created_at"):
            setattr(existing, column, getattr(record, column))
    existing.updated_at = utcnow()
    logger.info("Replaced retention policy %s", record.name)
    return existing, False


def delete_policy(session: Session, name: str) -> bool:
    record = session.get(PolicyRecord, name)
    if record is None:
        return False
    session.delete(record)
    logger.info("Deleted retention policy %s", name)
    return True


def list_schedules(session: Session) -> list[ScheduleRecord]:
    return list(session.scalars(select(ScheduleRecord).order_by(ScheduleRecord.name)))


def get_schedule(session: Session, name: str) -> ScheduleRecord | None:
    return session.get(ScheduleRecord, name)


def put_schedule(session: Session, record: ScheduleRecord) -> tuple[ScheduleRecord, bool]:
    """Insert the schedule or replace the one of the same name; return it and whether it is new.

    Replacing a schedule keeps its last fired time, so an edit does not make up
    runs that the old expression already had.
    """
    existing = session.get(ScheduleRecord, record.name)
    if existing is None:
        record.created_at = record.updated_at = utcnow()
        session.add(record)
        logger.info("Created cleanup schedule %s (%s)", record.name, record.cron)
        return record, True

    for column in ScheduleRecord.__table__.columns.keys():  # noqa: SIM118 - names, not Column objects
        if column not in ("name", "created_at", "last_fired_at"):
            setattr(existing, column, getattr(record, column))
    existing.updated_at = utcnow()
    logger.info("Replaced cleanup schedule %s (%s)", record.name, record.cron)
    return existing, False


def schedules_applying(session: Session, policy: str) -> list[str]:
    """Return the names of the schedules that name ``policy`` in their policy list."""
    return [
        record.name
        for record in list_schedules(session)
        if record.policies is not None and policy in record.policies
    ]


def last_schedule_run(session: Session, name: str) -> RunRecord | None:
    """Return the newest run of schedule ``name``, started by the scheduler or by an account."""
    statement = (
        select(RunRecord)
        .where(
            or_(
                RunRecord.triggered_by == schedule_trigger(name),
                RunRecord.triggered_by.endswith(f" (schedule {name})", autoescape=True),
            )
        )
        .order_by(RunRecord.id.desc())
        .limit(1)
    )
    return session.scalars(statement).first()


def delete_schedule(session: Session, name: str) -> bool:
    record = session.get(ScheduleRecord, name)
    if record is None:
        return False
    session.delete(record)
    logger.info("Deleted cleanup schedule %s", name)
    return True


def save_plan(
    session: Session,
    document: dict[str, Any],
    *,
    created_by: str,
    created_at: datetime,
    expires_at: datetime,
) -> PlanRecord:
    """Store a plan under a new random id, and delete plans that have expired."""
    purged = session.execute(delete(PlanRecord).where(PlanRecord.expires_at <= created_at))
    purged_count = int(getattr(purged, "rowcount", 0) or 0)
    if purged_count:
        logger.info("Deleted %d expired prune plans", purged_count)

    record = PlanRecord(
        id=secrets.token_hex(16),
        created_at=created_at,
        expires_at=expires_at,
        created_by=created_by,
        document=document,
        run_id=None,
    )
    session.add(record)
    return record


def get_plan(session: Session, plan_id: str) -> PlanRecord | None:
    return session.get(PlanRecord, plan_id)


def claim_plan(session: Session, plan_id: str, run_id: int) -> bool:
    """Mark the plan as applied by ``run_id``; return False when another run claimed it first."""
    result = session.execute(
        update(PlanRecord)
        .where(PlanRecord.id == plan_id, PlanRecord.run_id.is_(None))
        .values(run_id=run_id)
    )
    return bool(getattr(result, "rowcount", 0))


def create_run(
    session: Session, *, kind: str, triggered_by: str, plan_id: str | None = None
) -> RunRecord:
    record = RunRecord(
        kind=kind,
        triggered_by=triggered_by,
        status=RUN_RUNNING,
        started_at=utcnow(),
        plan_id=plan_id,
        progress_done=0,
        progress_total=0,
        details={},
        message="",
    )
    session.add(record)
    session.flush()
    logger.info("Started cleanup run %d (%s, by %s)", record.id, kind, triggered_by)
    return record


def get_run(session: Session, run_id: int) -> RunRecord | None:
    return session.get(RunRecord, run_id)


def list_runs(session: Session, *, limit: int) -> list[RunRecord]:
    statement = select(RunRecord).order_by(RunRecord.id.desc()).limit(limit)
    return list(session.scalars(statement))


def mark_interrupted_runs(session: Session) -> int:
    """Mark runs left running by a stopped service as interrupted; return how many."""
    result = session.execute(
        update(RunRecord)
        .where(RunRecord.status == RUN_RUNNING)
        .values(status=RUN_INTERRUPTED, finished_at=utcnow(), message=INTERRUPTED_MESSAGE)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def get_operator_maintenance(session: Session) -> MaintenanceRecord | None:
    return session.get(MaintenanceRecord, _MAINTENANCE_ROW)


def save_operator_maintenance(
    session: Session, *, reason: str, since: datetime, set_by: str
) -> None:
    """Store the operator's maintenance, replacing the reason of one already stored."""
    record = session.get(MaintenanceRecord, _MAINTENANCE_ROW)
    if record is None:
        session.add(
            MaintenanceRecord(id=_MAINTENANCE_ROW, reason=reason, since=since, set_by=set_by)
        )
        return
    record.reason = reason
    record.set_by = set_by


def clear_operator_maintenance(session: Session) -> None:
    session.execute(delete(MaintenanceRecord))
