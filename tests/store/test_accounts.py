"""Account changes end sessions and are audited; shares follow their accounts."""

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from nerve_registry.errors import AccountNotFoundError, ConflictError, InvalidInputError
from nerve_registry.store.accounts import (
    add_account,
    change_password,
    change_role,
    remove_account,
    share,
    unshare,
)
from nerve_registry.store.audit import AuditQuery, query_events
from nerve_registry.store.database import transaction, utcnow
from nerve_registry.store.sessions import SessionPolicy, open_session, resolve_session
from nerve_registry.store.shares import ShareNotFoundError, list_shares, patterns_for
from nerve_registry.store.users import Role, authenticate, find_user

POLICY = SessionPolicy(idle_timeout=600, lifetime=3600)


@pytest.fixture
def accounts(database: sessionmaker[Session]) -> sessionmaker[Session]:
    with transaction(database) as session:
        add_account(session, "root", "root-password", Role.ADMIN, actor="local:test")
        add_account(session, "alice", "alice-password", Role.USER, actor="local:test")
    return database


def _open(database: sessionmaker[Session], name: str) -> str:
    with transaction(database) as session:
        user = find_user(session, name)
        assert user is not None
        return open_session(session, user, now=utcnow(), policy=POLICY, client_address=None)


def _alive(database: sessionmaker[Session], session_id: str) -> bool:
    with transaction(database) as session:
        now = utcnow() + timedelta(seconds=1)
        return resolve_session(session, session_id, now=now, policy=POLICY) is not None


def _actions(database: sessionmaker[Session]) -> list[str]:
    with transaction(database) as session:
        return [event.action for event in query_events(session, AuditQuery())]


def test_password_change_ends_sessions(accounts: sessionmaker[Session]) -> None:
    session_id = _open(accounts, "alice")

    with transaction(accounts) as session:
        ended = change_password(session, "alice", "new-password", actor="root")

    assert ended == 1
    assert not _alive(accounts, session_id)
    with transaction(accounts) as session:
        assert authenticate(session, "alice", "new-password") is not None


def test_role_change_ends_sessions(accounts: sessionmaker[Session]) -> None:
    session_id = _open(accounts, "alice")

    with transaction(accounts) as session:
        ended = change_role(session, "alice", Role.ADMIN, actor="root")

    assert ended == 1
    assert not _alive(accounts, session_id)


def test_same_role_keeps_sessions(accounts: sessionmaker[Session]) -> None:
    session_id = _open(accounts, "alice")

    with transaction(accounts) as session:
        ended = change_role(session, "alice", Role.USER, actor="root")

    assert ended == 0
    assert _alive(accounts, session_id)


def test_remove_ends_sessions_and_shares(accounts: sessionmaker[Session]) -> None:
    session_id = _open(accounts, "alice")
    with transaction(accounts) as session:
        share(session, "alice", "team/*", actor="root")

    with transaction(accounts) as session:
        remove_account(session, "alice", actor="root")

    assert not _alive(accounts, session_id)
    with transaction(accounts) as session:
        assert find_user(session, "alice") is None
        assert list_shares(session) == []


def test_last_admin_kept(accounts: sessionmaker[Session]) -> None:
    with pytest.raises(ConflictError) as removing, transaction(accounts) as session:
        remove_account(session, "root", actor="local:test")
    with pytest.raises(ConflictError) as demoting, transaction(accounts) as session:
        change_role(session, "root", Role.USER, actor="local:test")

    assert removing.value.error_code == "LAST_ADMIN"
    assert demoting.value.error_code == "LAST_ADMIN"


def test_second_admin_may_go(accounts: sessionmaker[Session]) -> None:
    with transaction(accounts) as session:
        change_role(session, "alice", Role.ADMIN, actor="root")
        change_role(session, "root", Role.USER, actor="alice")

    with transaction(accounts) as session:
        root = find_user(session, "root")
        assert root is not None
        assert root.role == "user"


def test_unknown_account_not_found(accounts: sessionmaker[Session]) -> None:
    with pytest.raises(AccountNotFoundError), transaction(accounts) as session:
        remove_account(session, "nobody", actor="root")


def test_changes_audited(accounts: sessionmaker[Session]) -> None:
    with transaction(accounts) as session:
        change_password(session, "alice", "new-password", actor="root")
        change_role(session, "alice", Role.ADMIN, actor="root")
        created = share(session, "alice", "tools/*", actor="root")
    with transaction(accounts) as session:
        unshare(session, created.id, actor="root")
        remove_account(session, "alice", actor="root")

    assert _actions(accounts) == [
        "account.remove",
        "share.remove",
        "share.create",
        "account.role",
        "account.password",
        "account.create",
        "account.create",
    ]


def test_audit_has_no_password(accounts: sessionmaker[Session]) -> None:
    with transaction(accounts) as session:
        change_password(session, "alice", "very-secret-password", actor="root")
        events = query_events(session, AuditQuery())
        texts = [f"{event.target} {event.detail}" for event in events]

    assert not any("very-secret-password" in text for text in texts)


def test_share_duplicate_conflicts(accounts: sessionmaker[Session]) -> None:
    with transaction(accounts) as session:
        share(session, "alice", "team/*", actor="root")

    with pytest.raises(ConflictError) as caught, transaction(accounts) as session:
        share(session, "alice", "team/*", actor="root")

    assert caught.value.error_code == "SHARE_EXISTS"


def test_share_invalid_pattern(accounts: sessionmaker[Session]) -> None:
    with pytest.raises(InvalidInputError), transaction(accounts) as session:
        share(session, "alice", "team/../x", actor="root")


def test_share_patterns_of_account(accounts: sessionmaker[Session]) -> None:
    with transaction(accounts) as session:
        share(session, "alice", "team/*", actor="root")
        share(session, "alice", "base/image", actor="root")
        alice = find_user(session, "alice")
        assert alice is not None

        assert patterns_for(session, alice.id) == ["base/image", "team/*"]


def test_unshare_unknown(accounts: sessionmaker[Session]) -> None:
    with pytest.raises(ShareNotFoundError), transaction(accounts) as session:
        unshare(session, 999, actor="root")


def test_share_ids_not_reused(accounts: sessionmaker[Session]) -> None:
    with transaction(accounts) as session:
        first = share(session, "alice", "team/*", actor="root").id
    with transaction(accounts) as session:
        unshare(session, first, actor="root")
    with transaction(accounts) as session:
        second = share(session, "alice", "team/*", actor="root").id

    assert second != first


def test_remove_audits_shares(accounts: sessionmaker[Session]) -> None:
    with transaction(accounts) as session:
        share_id = share(session, "alice", "team/*", actor="root").id
    with transaction(accounts) as session:
        remove_account(session, "alice", actor="root")

    with transaction(accounts) as session:
        events = query_events(session, AuditQuery(action="share.remove"))

    assert [event.detail for event in events] == [f"share id={share_id}, with the account"]
