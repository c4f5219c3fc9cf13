"""During registry maintenance the token endpoint refuses push and delete grants, not pulls.

Nothing in the API switches maintenance on yet, so this test serves the real
application with uvicorn on a thread of the test process (with its real
embedded registry) and sets the flag on its services directly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
import uvicorn
from fastapi import FastAPI

from nerve_registry.api.app import create_app
from nerve_registry.config import Settings
from nerve_registry.store.database import (
    create_database_engine,
    create_schema,
    session_factory,
    transaction,
)
from nerve_registry.store.users import Role, create_user
from tests.support.ports import free_port

PASSWORD = "maintainer-password"  # noqa: S105 - a test account


START_TIMEOUT = 60.0


@dataclass
class InProcessService:
    url: str
    app: FastAPI


@pytest.fixture(scope="module")
def in_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessService]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("maintenance"),
        port=free_port(),
        registry_port=free_port(),
        login_failure_delay=0,
    )
    engine = create_database_engine(settings.effective_database_url)
    create_schema(engine)
    with transaction(session_factory(engine)) as session:
        create_user(session, "alice", PASSWORD, Role.USER)
    engine.dispose()

    app = create_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=settings.port, log_config=None, lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="in-process-service")
    thread.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            assert thread.is_alive(), "the service stopped during start-up"
            assert time.monotonic() < deadline, "the service did not start"
            time.sleep(0.05)

        maintenance = app.state.services.maintenance
        maintenance.active = True
        maintenance.reason = "garbage collection"
        yield InProcessService(url=f"http://127.0.0.1:{settings.port}", app=app)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _token(service: InProcessService, scope: str) -> requests.Response:
    return requests.get(
        f"{service.url}/auth/token",
        params={"service": "nerve-registry", "scope": scope},
        auth=("alice", PASSWORD),
        timeout=10,
    )


@pytest.mark.parametrize(
    "scope",
    ["repository:alice/app:pull,push", "repository:alice/app:delete", "repository:alice/app:*"],
)
def test_write_grant_refused(in_process: InProcessService, scope: str) -> None:
    response = _token(in_process, scope)

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "60"
    assert "garbage collection" in response.json()["message"]
    assert response.json()["errorCode"] == "MAINTENANCE"


def test_pull_grant_still_works(in_process: InProcessService) -> None:
    response = _token(in_process, "repository:alice/app:pull")

    assert response.status_code == 200
    assert response.json()["scope"] == "repository:alice/app:pull"


def test_denied_write_is_no_write(in_process: InProcessService) -> None:
    response = _token(in_process, "repository:bob/app:pull,push")

    assert response.status_code == 200
    assert response.json()["scope"] == ""


def test_signing_key_private(in_process: InProcessService) -> None:
    settings: Settings = in_process.app.state.settings

    assert (settings.key_dir / "token-signing-key.pem").stat().st_mode & 0o777 == 0o600
