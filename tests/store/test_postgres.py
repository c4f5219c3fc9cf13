"""The service and the account commands on a real PostgreSQL database instead of SQLite."""

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from nerve_registry.store.database import (
    create_database_engine,
    create_schema,
    session_factory,
    transaction,
)
from nerve_registry.store.users import authenticate, create_user
from tests.support import oci
from tests.support.postgres import postgres_bin_dir, running_postgres
from tests.support.service import ApiSession, running_service

pytestmark = pytest.mark.skipif(
    postgres_bin_dir() is None, reason="PostgreSQL is not installed (Debian package postgresql)"
)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """An empty database on a PostgreSQL server of its own, so that every test starts fresh."""
    with running_postgres() as url:
        yield url


@pytest.fixture
def postgres_database(postgres_url: str) -> Iterator[sessionmaker[Session]]:
    engine = create_database_engine(postgres_url)
    create_schema(engine)
    yield session_factory(engine)
    engine.dispose()


def test_postgres_accounts(postgres_database: sessionmaker[Session]) -> None:
    with transaction(postgres_database) as session:
        create_user(session, "pg-user", "correct horse")

    with transaction(postgres_database) as session:
        user = authenticate(session, "pg-user", "correct horse")
        assert user is not None
        assert user.created_at.tzinfo is not None


def test_service_on_postgres(postgres_url: str, tmp_path: Path) -> None:
    with running_service(
        tmp_path / "service", extra_args=["--database-url", postgres_url]
    ) as service:
        layout = tmp_path / "layout"
        oci.write_image(layout, "v1")
        service.push(layout, "v1", "team/app:v1")
        added = subprocess.run(
            [
                sys.executable,
                "-m",
                "nerve_registry",
                "user",
                "add",
                "pg-operator",
                "--password-stdin",
                "--database-url",
                postgres_url,
                "--data-dir",
                str(tmp_path / "unused"),
            ],
            input="operator-password\n",
            capture_output=True,
            text=True,
            env=dict(os.environ),
            timeout=120,
        )
        admin = service.api()
        images = admin.registry_call("images", {}).json()
        operator_login = ApiSession(service.url).login("pg-operator", "operator-password")
        state_file_exists = (service.data_dir / "state.db").exists()

    assert added.returncode == 0, added.stderr
    assert images["images"] == [{"name": "team/app", "tagCount": 1}]
    assert operator_login.status_code == 200
    assert not state_file_exists
