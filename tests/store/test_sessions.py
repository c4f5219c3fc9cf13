from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from nerve_registry.store.database import transaction
from nerve_registry.store.sessions import (
    LoginSession,
    SessionPolicy,
    close_session,
    open_session,
    purge_expired,
    resolve_session,
)
from nerve_registry.store.users import create_user

POLICY = SessionPolicy(idle_timeout=600, lifetime=3600)
START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _open(database: sessionmaker[Session]) -> str:
    with transaction(database) as session:
        user = create_user(session, "alice", "correct horse")
        return open_session(session, user, now=START, policy=POLICY, client_address="127.0.0.1")


def _resolve(database: sessionmaker[Session], session_id: str, at: datetime) -> str | None:
    with transaction(database) as session:
        user = resolve_session(session, session_id, now=at, policy=POLICY)
        return user.name if user else None


def test_session_resolves_to_account(database: sessionmaker[Session]) -> None:
    session_id = _open(database)

    assert _resolve(database, session_id, START + timedelta(seconds=5)) == "alice"


def test_session_id_stored_hashed(database: sessionmaker[Session]) -> None:
    session_id = _open(database)

    with transaction(database) as session:
        stored = [record.id_hash for record in session.query(LoginSession)]

    assert session_id not in stored
    assert len(stored) == 1


def test_unknown_session_rejected(database: sessionmaker[Session]) -> None:
    _open(database)

    assert _resolve(database, "not-a-session", START) is None


def test_idle_session_expires(database: sessionmaker[Session]) -> None:
    session_id = _open(database)

    assert _resolve(database, session_id, START + timedelta(seconds=601)) is None


def test_activity_extends_idle_timeout(database: sessionmaker[Session]) -> None:
    session_id = _open(database)

    for minutes in (8, 16, 24, 32):
        assert _resolve(database, session_id, START + timedelta(minutes=minutes)) == "alice"


def test_lifetime_ends_active_session(database: sessionmaker[Session]) -> None:
    session_id = _open(database)
    for minutes in range(8, 60, 8):
        _resolve(database, session_id, START + timedelta(minutes=minutes))

    assert _resolve(database, session_id, START + timedelta(minutes=60)) is None


def test_closed_session_rejected(database: sessionmaker[Session]) -> None:
    session_id = _open(database)

    with transaction(database) as session:
        assert close_session(session, session_id)

    assert _resolve(database, session_id, START) is None


def test_purge_removes_only_expired(database: sessionmaker[Session]) -> None:
    expired_id = _open(database)
    with transaction(database) as session:
        user = resolve_session(session, expired_id, now=START, policy=POLICY)
        assert user is not None
        live_id = open_session(
            session, user, now=START + timedelta(minutes=9), policy=POLICY, client_address=None
        )

    with transaction(database) as session:
        removed = purge_expired(session, now=START + timedelta(minutes=11), policy=POLICY)

    assert removed == 1
    assert _resolve(database, live_id, START + timedelta(minutes=12)) == "alice"
