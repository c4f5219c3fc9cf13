import pytest
from sqlalchemy.orm import Session, sessionmaker

from nerve_registry.errors import ConflictError, InvalidInputError
from nerve_registry.store.database import transaction
from nerve_registry.store.users import (
    INITIAL_ADMIN,
    Role,
    authenticate,
    create_user,
    ensure_initial_admin,
    find_user,
    set_password,
)


def test_create_and_authenticate(database: sessionmaker[Session]) -> None:
    with transaction(database) as session:
        create_user(session, "alice", "correct horse", Role.USER)

    with transaction(database) as session:
        user = authenticate(session, "alice", "correct horse")
        assert user is not None
        assert user.role == "user"


def test_password_stored_as_argon2id(database: sessionmaker[Session]) -> None:
    with transaction(database) as session:
        create_user(session, "alice", "correct horse")

    with transaction(database) as session:
        user = find_user(session, "alice")
        assert user is not None
        assert user.password_hash.startswith("$argon2id$")
        assert "correct horse" not in user.password_hash


def test_wrong_password_rejected(database: sessionmaker[Session]) -> None:
    with transaction(database) as session:
        create_user(session, "alice", "correct horse")

    with transaction(database) as session:
        assert authenticate(session, "alice", "wrong horse") is None


def test_unknown_account_rejected(database: sessionmaker[Session]) -> None:
    with transaction(database) as session:
        assert authenticate(session, "nobody", "whatever1") is None


def test_duplicate_name_conflicts(database: sessionmaker[Session]) -> None:
    with transaction(database) as session:
        create_user(session, "alice", "correct horse")

    with pytest.raises(ConflictError) as caught, transaction(database) as session:
        create_user(session, "alice", "another pass")

    assert caught.value.error_code == "ACCOUNT_EXISTS"


@pytest.mark.parametrize("name", ["Alice", "a b", "", "a/b", "-a", "x" * 65, "../x"])
def test_invalid_account_name(database: sessionmaker[Session], name: str) -> None:
    with pytest.raises(InvalidInputError), transaction(database) as session:
        create_user(session, name, "correct horse")


@pytest.mark.parametrize("password", ["short", "x" * 1025])
def test_invalid_password_length(database: sessionmaker[Session], password: str) -> None:
    with pytest.raises(InvalidInputError), transaction(database) as session:
        create_user(session, "alice", password)


def test_initial_admin_created_once(database: sessionmaker[Session]) -> None:
    with transaction(database) as session:
        password = ensure_initial_admin(session)

    with transaction(database) as session:
        second = ensure_initial_admin(session)
        admin = authenticate(session, INITIAL_ADMIN, password or "")

    assert password is not None
    assert second is None
    assert admin is not None
    assert admin.is_admin


def test_set_password_replaces_old(database: sessionmaker[Session]) -> None:
    with transaction(database) as session:
        create_user(session, "alice", "correct horse")

    with transaction(database) as session:
        set_password(session, "alice", "battery staple")

    with transaction(database) as session:
        assert authenticate(session, "alice", "correct horse") is None
        assert authenticate(session, "alice", "battery staple") is not None


def test_blank_password_rejected(database: sessionmaker[Session]) -> None:
    with pytest.raises(InvalidInputError), transaction(database) as session:
        create_user(session, "alice", " " * 12)
