"""Shares: an administrator lets one account pull repositories outside its own namespace.

``security.policy`` defines the pattern grammar and what a share allows: ``pull`` only.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from nerve_registry.errors import ConflictError, NotFoundError
from nerve_registry.security.policy import MAX_PATTERN_LENGTH, validate_share_pattern
from nerve_registry.store.database import Base, UTCDateTime, utcnow
from nerve_registry.store.users import User, get_user

logger = logging.getLogger(__name__)


class ShareNotFoundError(NotFoundError):
    error_code = "SHARE_NOT_FOUND"


class Share(Base):
    __tablename__ = "shares"
    # AUTOINCREMENT keeps SQLite from giving a removed share's id to the next
    # one, so that a share id in the audit log names one share only.
    __table_args__ = (UniqueConstraint("user_id", "pattern"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    pattern: Mapped[str] = mapped_column(String(MAX_PATTERN_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(256))

    user: Mapped[User] = relationship(lazy="joined")


def add_share(session: Session, account: str, pattern: str, *, created_by: str) -> Share:
    """Share the repositories that match ``pattern`` with ``account`` for pulling.

    Raises AccountNotFoundError for an unknown account, InvalidInputError for
    an invalid pattern and ConflictError (code SHARE_EXISTS) for a duplicate.
    """
    validate_share_pattern(pattern)
    user = get_user(session, account)

    share = Share(user_id=user.id, pattern=pattern, created_by=created_by, created_at=utcnow())
    session.add(share)
    try:
        session.flush()
    except IntegrityError as error:
        raise ConflictError(
            f"Pattern '{pattern}' is already shared with account '{account}'.",
            error_code="SHARE_EXISTS",
        ) from error

    share.user = user
    logger.info("Shared %s with account %s (by %s)", pattern, account, created_by)
    return share


def list_shares(session: Session, account: str | None = None) -> list[Share]:
    """Return the shares, of one account or of all, ordered by account name and pattern."""
    query = select(Share).join(Share.user).order_by(User.name, Share.pattern)
    if account is not None:
        query = query.where(User.name == account)
    return list(session.scalars(query))


def patterns_for(session: Session, user_id: int) -> list[str]:
    query = select(Share.pattern).where(Share.user_id == user_id).order_by(Share.pattern)
    return list(session.scalars(query))


def get_share(session: Session, share_id: int) -> Share:
    share = session.get(Share, share_id)
    if share is None:
        raise ShareNotFoundError(f"Share {share_id} not found.")
    return share


def delete_share(session: Session, share_id: int) -> Share:
    """Delete the share ``share_id`` and return it. Raises ShareNotFoundError."""
    share = get_share(session, share_id)
    session.delete(share)
    session.flush()
    logger.info("Removed share %d (%s for %s)", share_id, share.pattern, share.user.name)
    return share
