"""Login, session header, logout, session expiry and the version endpoint."""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from nerve_registry import __version__
from tests.support.service import ApiSession, RunningService, running_service

REGISTRY_ENDPOINTS = ["images", "image-tags", "check-images-status", "delete-image-tag"]


def test_login_returns_session_header(service: RunningService) -> None:
    response = requests.post(
        f"{service.url}/auth/login",
        json={"identity": "admin", "secret": service.admin_password},
        timeout=10,
    )

    assert response.status_code == 200
    assert len(response.headers["sessionId"]) >= 32
    assert response.json()["username"] == "admin"
    assert response.json()["role"] == "admin"


@pytest.mark.parametrize(
    ("identity", "secret"), [("admin", "wrong-password"), ("nobody", "whatever-password")]
)
def test_login_bad_credentials(service: RunningService, identity: str, secret: str) -> None:
    response = requests.post(
        f"{service.url}/auth/login", json={"identity": identity, "secret": secret}, timeout=10
    )

    assert response.status_code == 403
    assert response.json()["errorCode"] == "INVALID_CREDENTIALS"
    assert "sessionId" not in response.headers


@pytest.mark.parametrize("endpoint", REGISTRY_ENDPOINTS)
def test_registry_endpoint_needs_session(service: RunningService, endpoint: str) -> None:
    response = requests.post(f"{service.url}/nerve/registry/{endpoint}", json={}, timeout=10)

    assert response.status_code == 403
    assert response.json()["errorCode"] == "NOT_AUTHENTICATED"


def test_unknown_session_rejected(service: RunningService) -> None:
    response = requests.post(
        f"{service.url}/nerve/registry/images",
        json={},
        headers={"sessionid": "made-up-session-id"},
        timeout=10,
    )

    assert response.status_code == 403


def test_logout_ends_session(service: RunningService) -> None:
    session = service.api()

    logout = session.get(f"{service.url}/auth/logout", timeout=10)
    after = session.registry_call("images", {})

    assert logout.status_code == 204
    assert after.status_code == 403


def test_logout_without_session(service: RunningService) -> None:
    response = requests.get(f"{service.url}/auth/logout", timeout=10)

    assert response.status_code == 403


def test_version_endpoint(service: RunningService) -> None:
    response = requests.get(f"{service.url}/nerve/update/cloud/current-version", timeout=10)

    assert response.json() == {"currentVersion": __version__}


@pytest.fixture(scope="module")
def short_session_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    with running_service(
        tmp_path_factory.mktemp("short-sessions"),
        extra_args=["--session-idle-timeout", "1", "--session-lifetime", "3"],
    ) as running:
        yield running


def test_idle_session_expires(short_session_service: RunningService) -> None:
    session = short_session_service.api()

    first = session.registry_call("images", {})
    time.sleep(1.5)
    second = session.registry_call("images", {})

    assert first.status_code == 200
    assert second.status_code == 403
    assert "expired" in second.json()["message"]


def test_session_lifetime_ends_active_session(short_session_service: RunningService) -> None:
    session = short_session_service.api()

    statuses = []
    for _ in range(8):
        statuses.append(session.registry_call("images", {}).status_code)
        time.sleep(0.5)

    assert statuses[0] == 200
    assert statuses[-1] == 403


def test_first_start_writes_password_file(tmp_path: Path) -> None:
    with running_service(tmp_path / "service") as service:
        password_file = service.data_dir / "initial-admin-password"
        mode = password_file.stat().st_mode & 0o777
        session = ApiSession(service.url)
        login = session.login("admin", password_file.read_text().strip())
        log = service.log_text()

    assert mode == 0o600
    assert login.status_code == 200
    assert log.count(service.admin_password) == 1


def test_second_start_keeps_accounts(tmp_path: Path) -> None:
    with running_service(tmp_path / "service") as first:
        password = first.admin_password
    (tmp_path / "service" / "initial-admin-password").unlink()

    with running_service(tmp_path / "service") as second:
        login = ApiSession(second.url).login("admin", password)
        created_again = (second.data_dir / "initial-admin-password").exists()

    assert login.status_code == 200
    assert not created_again
