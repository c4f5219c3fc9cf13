"""Login sessions: opened by a login, ended by logout, idle time or maximum lifetime.

Only a SHA-256 hash of each session id is stored, so a copy of the database
does not hand out live sessions.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from nerve_registry.store.database import Base, UTCDateTime
from nerve_registry.store.users import User

logger = logging.getLogger(__name__)

# A session's last-seen time is written at most this often (or a tenth of the
# idle timeout, if that is shorter), so that a busy client does not turn every
# read request into a database write.
LAST_SEEN_RESOLUTION = timedelta(seconds=30)


class LoginSession(Base):
    __tablename__ = "sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    client_address: Mapped[str | None] = mapped_column(String(64), nullable=True)

    user: Mapped[User] = relationship(lazy="joined")


@dataclass(frozen=True)
class SessionPolicy:
    """Idle timeout and maximum lifetime of a session, in seconds."""

    idle_timeout: int
    lifetime: int


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def open_session(
    session: Session,
    user: User,
    *,
    now: datetime,
    policy: SessionPolicy,
    client_address: str | None,
) -> str:
    """Create a session for ``user`` and return its id, which is shown to the client once."""
    session_id = secrets.token_urlsafe(32)
    session.add(
        LoginSession(
            id_hash=_hash(session_id),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(seconds=policy.lifetime),
            client_address=client_address,
        )
    )
    logger.info("Opened a session for %s from %s", user.name, client_address or "unknown address")
    return session_id


def resolve_session(
    session: Session, session_id: str, *, now: datetime, policy: SessionPolicy
) -> User | None:
    """Return the account of a live session and mark it as used; None when it is unknown or over."""
    record = session.get(LoginSession, _hash(session_id))
    if record is None:
        return None

    idle_limit = record.last_seen_at + timedelta(seconds=policy.idle_timeout)
    if now >= record.expires_at or now >= idle_limit:
        session.delete(record)
        logger.info("Session of %s ended by timeout", record.user.name)
        return None

    resolution = min(LAST_SEEN_RESOLUTION, timedelta(seconds=policy.idle_timeout) / 10)
    if now - record.last_seen_at >= resolution:
        record.last_seen_at = now

    return record.user


def close_session(session: Session, session_id: str) -> bool:
    """End a session at once; return False when it did not exist."""
    record = session.get(LoginSession, _hash(session_id))
    if record is None:
        return False

    logger.info("Closed a session of %s", record.user.name)
    session.delete(record)
    return True


def close_sessions_of(session: Session, user: User) -> int:
    """End every session of an account, for a password change or removal."""
    result = session.execute(delete(LoginSession).where(LoginSession.user_id == user.id))
    return int(getattr(result, "rowcount", 0) or 0)


def purge_expired(session: Session, *, now: datetime, policy: SessionPolicy) -> int:
    """Delete sessions past their lifetime or idle timeout; return how many went."""
    idle_cutoff = now - timedelta(seconds=policy.idle_timeout)
    stale = select(LoginSession.id_hash).where(
        (LoginSession.expires_at <= now) | (LoginSession.last_seen_at <= idle_cutoff)
    )
    ids = list(session.scalars(stale))
    if ids:
        session.execute(delete(LoginSession).where(LoginSession.id_hash.in_(ids)))
    return len(ids)
