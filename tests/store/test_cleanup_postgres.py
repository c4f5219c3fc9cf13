"""Cleanup records on PostgreSQL, whose ``integer`` columns end at 2147483647."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from nerve_registry.store import cleanup as store
from nerve_registry.store.database import (
    create_database_engine,
    create_schema,
    session_factory,
    transaction,
)
from tests.support.postgres import postgres_bin_dir, running_postgres
from tests.support.service import running_service

pytestmark = pytest.mark.skipif(
    postgres_bin_dir() is None, reason="PostgreSQL is not installed (Debian package postgresql)"
)

GIB = 2**30


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with running_postgres() as url:
        yield url


@pytest.fixture
def postgres_database(postgres_url: str) -> Iterator[sessionmaker[Session]]:
    engine = create_database_engine(postgres_url)
    create_schema(engine)
    yield session_factory(engine)
    engine.dispose()


def test_maximum_duration_stored(postgres_url: str, tmp_path: Path) -> None:
    with running_service(
        tmp_path / "service", extra_args=["--database-url", postgres_url]
    ) as service:
        api = service.api()
        body = {"repositories": ["ci/**"], "olderThan": "36500d", "untaggedOlderThan": "36500d"}
        policy = api.put(f"{service.url}/nerve/registry/policies/century", json=body, timeout=30)
        schedule = api.put(
            f"{service.url}/nerve/registry/schedules/century",
            json={"cron": "0 3 * * *", "action": "prune", "untaggedOlderThan": "36500d"},
            timeout=30,
        )

    assert policy.status_code == 201, policy.text
    assert policy.json()["olderThan"] == "36500d"
    assert schedule.status_code == 201, schedule.text


def test_run_bytes_over_two_gib(postgres_database: sessionmaker[Session]) -> None:
    with transaction(postgres_database) as session:
        run = store.create_run(session, kind="gc", triggered_by="account:admin")
        run.estimated_freed_bytes = 5 * GIB
        run.freed_bytes = 3 * GIB
        run_id = run.id
    with transaction(postgres_database) as session:
        stored = store.get_run(session, run_id)

    assert stored is not None
    assert stored.freed_bytes == 3 * GIB
    assert stored.estimated_freed_bytes == 5 * GIB
