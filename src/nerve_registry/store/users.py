"""Accounts: names, roles and Argon2id password hashes."""

from __future__ import annotations

import enum
import logging
import re
import secrets
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import String, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from nerve_registry.errors import AccountNotFoundError, ConflictError, InvalidInputError
from nerve_registry.store.database import Base, UTCDateTime, utcnow

logger = logging.getLogger(__name__)

# An account name is also the account's namespace in the registry (NAME/...),
# so it must be a valid repository path component.
ACCOUNT_NAME_RE = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
MAX_ACCOUNT_NAME_LENGTH = 64
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
INITIAL_ADMIN = "admin"

# argon2-cffi's PasswordHasher uses Argon2id with its RFC 9106 low-memory profile.
_hasher = PasswordHasher()
# Verified against when the account does not exist, so that a login for an
# unknown name takes as long as one with a wrong password.
_UNKNOWN_ACCOUNT_HASH = _hasher.hash(secrets.token_urlsafe(16))


class Role(enum.StrEnum):
    ADMIN = "admin"
    USER = "user"


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(MAX_ACCOUNT_NAME_LENGTH), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16), default=Role.USER.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN.value


def validate_account_name(name: object) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidInputError("The account name must be a non-empty string.")

    if len(name) > MAX_ACCOUNT_NAME_LENGTH or not ACCOUNT_NAME_RE.fullmatch(name):
        raise InvalidInputError(
            f"Invalid account name {name[:80]!r}: use lowercase letters and digits, joined by "
            f"'.', '_' or '-', at most {MAX_ACCOUNT_NAME_LENGTH} characters. The name is also "
            "the account's namespace in the registry."
        )

    return name


def validate_password(password: object) -> str:
    if not isinstance(password, str):
        raise InvalidInputError("The password must be a string.")

    if not password.strip():
        raise InvalidInputError("The password must not consist of white space only.")

    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInputError(
            f"The password must be at least {MIN_PASSWORD_LENGTH} characters long."
        )

    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInputError(
            f"The password must be at most {MAX_PASSWORD_LENGTH} characters long."
        )

    return password


def create_user(session: Session, name: str, password: str, role: Role = Role.USER) -> User:
    """Add an account; raise ConflictError when the name is taken."""
    validate_account_name(name)
    validate_password(password)

    user = User(name=name, password_hash=_hasher.hash(password), role=role.value)
    session.add(user)
    try:
        session.flush()
    except IntegrityError as error:
        raise ConflictError(
            f"Account '{name}' already exists.", error_code="ACCOUNT_EXISTS"
        ) from error

    logger.info("Created account %s with role %s", name, role.value)
    return user


def find_user(session: Session, name: str) -> User | None:
    return session.scalars(select(User).where(User.name == name)).one_or_none()


def get_user(session: Session, name: str) -> User:
    user = find_user(session, name)
    if user is None:
        raise AccountNotFoundError(f"Account '{name}' not found.")
    return user


def count_users(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


def count_admins(session: Session) -> int:
    query = select(func.count()).select_from(User).where(User.role == Role.ADMIN.value)
    return session.scalar(query) or 0


def list_users(session: Session) -> list[User]:
    """Return every account, ordered by name."""
    return list(session.scalars(select(User).order_by(User.name)))


def set_role(session: Session, name: str, role: Role) -> User:
    """Give account ``name`` the role ``role``.

    Raises AccountNotFoundError for an unknown name, and ConflictError (code
    LAST_ADMIN) when this would leave no administrator.
    """
    user = get_user(session, name)
    if user.is_admin and role != Role.ADMIN and count_admins(session) == 1:
        raise ConflictError(
            f"Account '{name}' is the only administrator, so it keeps the role 'admin'. "
            "Give another account the role 'admin' first.",
            error_code="LAST_ADMIN",
        )

    user.role = role.value
    logger.info("Set the role of account %s to %s", name, role.value)
    return user


def delete_user(session: Session, name: str) -> User:
    """Delete account ``name``; its sessions and shares go with it (foreign key cascade).

    Raises AccountNotFoundError for an unknown name, and ConflictError (code
    LAST_ADMIN) for the only administrator.
    """
    user = get_user(session, name)
    if user.is_admin and count_admins(session) == 1:
        raise ConflictError(
            f"Account '{name}' is the only administrator and cannot be removed. "
            "Give another account the role 'admin' first.",
            error_code="LAST_ADMIN",
        )

    session.delete(user)
    session.flush()
    logger.info("Deleted account %s", name)
    return user


def authenticate(session: Session, name: str, password: str) -> User | None:
    """Return the account when the password matches, else None.

    A hash made with older Argon2 parameters is replaced with a current one
    after a successful check.
    """
    user = find_user(session, name)
    stored_hash = user.password_hash if user is not None else _UNKNOWN_ACCOUNT_HASH

    try:
        _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None

    if user is None:
        return None

    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user


def set_password(session: Session, name: str, password: str) -> User:
    validate_password(password)
    user = get_user(session, name)
    user.password_hash = _hasher.hash(password)
    user.password_changed_at = utcnow()
    logger.info("Changed the password of account %s", name)
    return user


def ensure_initial_admin(session: Session) -> str | None:
    """Create the account ``admin`` with a random password when no account exists.

    Returns the password, which the caller shows once; None when accounts exist.
    """
    if count_users(session) > 0:
        return None

    password = secrets.token_urlsafe(18)
    create_user(session, INITIAL_ADMIN, password, Role.ADMIN)
    return password
