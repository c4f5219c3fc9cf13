"""Account and share changes that also end sessions and write the audit log.

A changed password, a changed role and a removed account each end every
session of the account at once, so that nothing keeps the old rights.
Registry tokens already issued stay valid until they expire (the token
lifetime, 5 minutes by default), because the registry checks only their
signature and time.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from nerve_registry.store.audit import AuditAction, record_event
from nerve_registry.store.sessions import close_sessions_of
from nerve_registry.store.shares import Share, add_share, delete_share
from nerve_registry.store.users import (
    Role,
    User,
    create_user,
    delete_user,
    get_user,
    set_password,
    set_role,
)

logger = logging.getLogger(__name__)


def add_account(
    session: Session,
    name: str,
    password: str,
    role: Role,
    *,
    actor: str,
    client_address: str | None = None,
) -> User:
    user = create_user(session, name, password, role)
    record_event(
        session,
        AuditAction.ACCOUNT_CREATE,
        actor=actor,
        target=name,
        client_address=client_address,
        detail=f"role={role.value}",
    )
    return user


def change_password(
    session: Session, name: str, password: str, *, actor: str, client_address: str | None = None
) -> int:
    """Set a new password and end the account's sessions; return how many sessions ended."""
    user = set_password(session, name, password)
    ended = close_sessions_of(session, user)
    record_event(
        session,
        AuditAction.ACCOUNT_PASSWORD,
        actor=actor,
        target=name,
        client_address=client_address,
        detail=f"sessions ended={ended}",
    )
    return ended


def change_role(
    session: Session, name: str, role: Role, *, actor: str, client_address: str | None = None
) -> int:
    """Give the account ``role`` and end its sessions; return how many sessions ended.

    Setting the role it already has changes nothing and ends no session.
    """
    previous = get_user(session, name).role
    if previous == role.value:
        return 0

    user = set_role(session, name, role)
    ended = close_sessions_of(session, user)
    record_event(
        session,
        AuditAction.ACCOUNT_ROLE,
        actor=actor,
        target=name,
        client_address=client_address,
        detail=f"role {previous} -> {role.value}, sessions ended={ended}",
    )
    return ended


def remove_account(
    session: Session, name: str, *, actor: str, client_address: str | None = None
) -> int:
    """Delete the account with its sessions and shares; return how many sessions ended."""
    user = get_user(session, name)
    ended = close_sessions_of(session, user)
    shares = list(session.scalars(select(Share).where(Share.user_id == user.id)))
    for removed in shares:
        record_event(
            session,
            AuditAction.SHARE_REMOVE,
            actor=actor,
            target=f"{removed.pattern} -> {name}",
            client_address=client_address,
            detail=f"share id={removed.id}, with the account",
        )
    delete_user(session, name)
    record_event(
        session,
        AuditAction.ACCOUNT_REMOVE,
        actor=actor,
        target=name,
        client_address=client_address,
        detail=f"sessions ended={ended}",
    )
    return ended


def share(
    session: Session, account: str, pattern: str, *, actor: str, client_address: str | None = None
) -> Share:
    created = add_share(session, account, pattern, created_by=actor)
    record_event(
        session,
        AuditAction.SHARE_CREATE,
        actor=actor,
        target=f"{pattern} -> {account}",
        client_address=client_address,
        detail=f"share id={created.id}",
    )
    return created


def unshare(
    session: Session, share_id: int, *, actor: str, client_address: str | None = None
) -> Share:
    removed = delete_share(session, share_id)
    record_event(
        session,
        AuditAction.SHARE_REMOVE,
        actor=actor,
        target=f"{removed.pattern} -> {removed.user.name}",
        client_address=client_address,
        detail=f"share id={share_id}",
    )
    return removed
