"""Failed logins lock out an account name or a client address, on both login paths."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support import oci, skopeo
from tests.support.service import ApiSession, RunningService, running_service

ALICE_PASSWORD = "alice-password"  # noqa: S105 - a test account
WRONG_PASSWORD = "wrong-password"  # noqa: S105 - a deliberately wrong password
MAX_FAILURES = 3
MAX_FAILURES_PER_ADDRESS = 6
LOCKOUT_SECONDS = 2


@pytest.fixture
def lockout_service(tmp_path: Path) -> Iterator[RunningService]:
    """A service with short lockout limits, fresh for each test so counts start at zero."""
    with running_service(
        tmp_path / "service",
        extra_args=[
            "--login-max-failures",
            str(MAX_FAILURES),
            "--login-max-failures-per-address",
            str(MAX_FAILURES_PER_ADDRESS),
            "--login-lockout",
            str(LOCKOUT_SECONDS),
            "--login-failure-window",
            "600",
            "--login-failure-delay",
            "0",
        ],
    ) as service:
        service.add_account("alice", ALICE_PASSWORD)
        yield service


def _login(service: RunningService, identity: str, secret: str) -> requests.Response:
    return ApiSession(service.url).login(identity, secret)


def test_login_locked_after_failures(lockout_service: RunningService) -> None:
    failures = [_login(lockout_service, "alice", WRONG_PASSWORD).status_code for _ in range(3)]

    locked = _login(lockout_service, "alice", ALICE_PASSWORD)

    assert failures == [403, 403, 403]
    assert locked.status_code == 429
    assert locked.json()["errorCode"] == "TOO_MANY_REQUESTS"
    assert 1 <= int(locked.headers["Retry-After"]) <= LOCKOUT_SECONDS


def test_login_recovers_after_wait(lockout_service: RunningService) -> None:
    for _ in range(MAX_FAILURES):
        _login(lockout_service, "alice", WRONG_PASSWORD)
    locked = _login(lockout_service, "alice", ALICE_PASSWORD)

    time.sleep(int(locked.headers["Retry-After"]) + 0.2)
    recovered = _login(lockout_service, "alice", ALICE_PASSWORD)

    assert locked.status_code == 429
    assert recovered.status_code == 200


def test_lockout_shared_by_token_endpoint(lockout_service: RunningService) -> None:
    for _ in range(MAX_FAILURES):
        lockout_service.token(["repository:alice/app:pull"], user="alice", password=WRONG_PASSWORD)

    token = lockout_service.token(
        ["repository:alice/app:pull"], user="alice", password=ALICE_PASSWORD
    )
    login = _login(lockout_service, "alice", ALICE_PASSWORD)

    assert token.status_code == 429
    assert "Retry-After" in token.headers
    assert token.json()["errors"][0]["code"] == "TOOMANYREQUESTS"
    assert login.status_code == 429


def test_skopeo_push_during_lockout(lockout_service: RunningService, tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    oci.write_image(layout, "v1", seed="lockout")
    for _ in range(MAX_FAILURES):
        _login(lockout_service, "alice", WRONG_PASSWORD)

    with pytest.raises(skopeo.SkopeoError) as caught:
        skopeo.push(
            layout,
            "v1",
            f"{lockout_service.registry_host_port}/alice/app:v1",
            creds=f"alice:{ALICE_PASSWORD}",
        )

    assert "too many requests" in caught.value.stderr


def test_address_locked_across_names(lockout_service: RunningService) -> None:
    for number in range(MAX_FAILURES_PER_ADDRESS):
        _login(lockout_service, f"guess{number}", WRONG_PASSWORD)

    locked = _login(lockout_service, "alice", ALICE_PASSWORD)

    assert locked.status_code == 429
    assert "127.0.0.1" in locked.json()["message"]


def test_lockout_audited(lockout_service: RunningService) -> None:
    for _ in range(MAX_FAILURES):
        _login(lockout_service, "alice", WRONG_PASSWORD)

    events = (
        lockout_service.api()
        .get(
            f"{lockout_service.url}/nerve/registry/audit",
            params={"actor": "alice"},
            timeout=10,
        )
        .json()["events"]
    )

    actions = [event["action"] for event in events]
    assert actions.count("login.failure") == MAX_FAILURES
    assert actions.count("login.lockout") == 1


def test_other_account_unaffected(lockout_service: RunningService) -> None:
    for _ in range(MAX_FAILURES):
        _login(lockout_service, "alice", WRONG_PASSWORD)

    admin = _login(lockout_service, "admin", lockout_service.admin_password)

    assert admin.status_code == 200


@pytest.mark.parametrize("identity", ["../admin", "Admin", "admin\n", "a" * 300, "admin%2f"])
def test_login_invalid_identity(service: RunningService, identity: str) -> None:
    response = _login(service, identity, "whatever-password")

    assert response.status_code == 400
