"""Audit log queries: filters, newest first, paging and length limits."""

from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from nerve_registry.store.audit import (
    MAX_TARGET_LENGTH,
    AuditAction,
    AuditQuery,
    query_events,
    record_event,
)
from nerve_registry.store.database import transaction, utcnow


def _fill(database: sessionmaker[Session]) -> None:
    start = utcnow() - timedelta(hours=3)
    with transaction(database) as session:
        for hour, (actor, action) in enumerate(
            [
                ("alice", AuditAction.LOGIN_FAILURE),
                ("alice", AuditAction.TOKEN_GRANT),
                ("root", AuditAction.TAG_DELETE),
            ]
        ):
            record_event(
                session,
                action,
                actor=actor,
                target=f"target-{hour}",
                now=start + timedelta(hours=hour),
            )


def _targets(database: sessionmaker[Session], query: AuditQuery) -> list[str]:
    with transaction(database) as session:
        return [event.target for event in query_events(session, query)]


def test_newest_first(database: sessionmaker[Session]) -> None:
    _fill(database)

    assert _targets(database, AuditQuery()) == ["target-2", "target-1", "target-0"]


def test_filter_actor(database: sessionmaker[Session]) -> None:
    _fill(database)

    assert _targets(database, AuditQuery(actor="alice")) == ["target-1", "target-0"]


def test_filter_action(database: sessionmaker[Session]) -> None:
    _fill(database)

    assert _targets(database, AuditQuery(action="tag.delete")) == ["target-2"]


def test_filter_since(database: sessionmaker[Session]) -> None:
    _fill(database)
    since = utcnow() - timedelta(hours=2, minutes=30)

    assert _targets(database, AuditQuery(since=since)) == ["target-2", "target-1"]


def test_paging_with_before(database: sessionmaker[Session]) -> None:
    _fill(database)
    with transaction(database) as session:
        first = query_events(session, AuditQuery(limit=2))
        rest = query_events(session, AuditQuery(limit=2, before_id=first[-1].id))

    assert [event.target for event in first + rest] == ["target-2", "target-1", "target-0"]


def test_long_target_cut(database: sessionmaker[Session]) -> None:
    with transaction(database) as session:
        record_event(session, AuditAction.TOKEN_GRANT, actor="a", target="x" * 5000)

    assert [len(target) for target in _targets(database, AuditQuery())] == [MAX_TARGET_LENGTH]
