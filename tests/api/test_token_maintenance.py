"""During registry maintenance the token endpoint refuses push and delete grants, not pulls."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import oci, skopeo
from tests.support.service import ApiSession, RunningService, running_service

ALICE_PASSWORD = "alice-password"  # noqa: S105 - a test account
MAINTENANCE_PATH = "/nerve/registry/maintenance"


@pytest.fixture(scope="module")
def maintenance_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    with running_service(tmp_path_factory.mktemp("token-maintenance") / "service") as service:
        service.add_account("alice", ALICE_PASSWORD)
        yield service


@pytest.fixture
def in_maintenance(maintenance_service: RunningService) -> Iterator[ApiSession]:
    """Maintenance turned on by the admin for one test, and off again afterwards."""
    admin = maintenance_service.api()
    on = admin.post_json(MAINTENANCE_PATH, {"active": True, "reason": "disk check"})
    assert on.status_code == 200, on.text
    yield admin
    off = admin.post_json(MAINTENANCE_PATH, {"active": False})
    assert off.status_code == 200, off.text


@pytest.mark.parametrize(
    "scope",
    ["repository:alice/app:pull,push", "repository:alice/app:delete", "repository:alice/app:*"],
)
def test_write_grant_refused(
    maintenance_service: RunningService, in_maintenance: ApiSession, scope: str
) -> None:
    response = maintenance_service.token([scope], user="alice", password=ALICE_PASSWORD)

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "60"
    assert response.json()["errorCode"] == "REGISTRY_MAINTENANCE"
    assert "disk check" in response.json()["message"]
    assert "Pulling still works" in response.json()["message"]


def test_pull_grant_still_works(
    maintenance_service: RunningService, in_maintenance: ApiSession
) -> None:
    response = maintenance_service.token(
        ["repository:alice/app:pull"], user="alice", password=ALICE_PASSWORD
    )

    assert response.status_code == 200
    assert response.json()["scope"] == "repository:alice/app:pull"


def test_denied_write_is_no_write(
    maintenance_service: RunningService, in_maintenance: ApiSession
) -> None:
    response = maintenance_service.token(
        ["repository:bob/app:pull,push"], user="alice", password=ALICE_PASSWORD
    )

    assert response.status_code == 200
    assert response.json()["scope"] == ""


def test_push_waits_for_maintenance_end(
    maintenance_service: RunningService, tmp_path: Path
) -> None:
    layout = tmp_path / "layout"
    oci.write_image(layout, "v1", seed="maintenance")
    admin = maintenance_service.api()
    destination = f"{maintenance_service.registry_host_port}/alice/app:v1"

    admin.post_json(MAINTENANCE_PATH, {"active": True, "reason": "disk check"})
    try:
        with pytest.raises(skopeo.SkopeoError) as caught:
            skopeo.push(layout, "v1", destination, creds=f"alice:{ALICE_PASSWORD}")
    finally:
        admin.post_json(MAINTENANCE_PATH, {"active": False})
    skopeo.push(layout, "v1", destination, creds=f"alice:{ALICE_PASSWORD}")

    assert "503" in caught.value.stderr
    assert maintenance_service.registry_request("GET", "/v2/alice/app/tags/list").json() == {
        "name": "alice/app",
        "tags": ["v1"],
    }
