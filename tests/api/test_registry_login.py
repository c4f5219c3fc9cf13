"""skopeo against the service's registry with MS accounts: push, pull, login and refusals."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import oci, skopeo
from tests.support.service import RunningService, running_service

ALICE_PASSWORD = "alice-password"  # noqa: S105 - a test account
BOB_PASSWORD = "bob-password-1"  # noqa: S105 - a test account


@pytest.fixture(scope="module")
def login_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    root = tmp_path_factory.mktemp("registry-login")
    with running_service(root / "service", extra_args=["--login-failure-delay", "0"]) as service:
        service.add_account("alice", ALICE_PASSWORD)
        service.add_account("bob", BOB_PASSWORD)
        yield service


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("registry-login-layout") / "layout"
    oci.write_image(directory, "v1", seed="registry login")
    return directory


def _push(
    service: RunningService, layout: Path, destination: str, creds: str | None
) -> subprocess.CompletedProcess[str]:
    return skopeo.push(layout, "v1", f"{service.registry_host_port}/{destination}", creds=creds)


def _tags(service: RunningService, repository: str) -> int:
    return service.registry_request("GET", f"/v2/{repository}/tags/list").status_code


def test_push_and_pull_own_namespace(
    login_service: RunningService, layout: Path, tmp_path: Path
) -> None:
    _push(login_service, layout, "alice/app:v1", f"alice:{ALICE_PASSWORD}")

    skopeo.pull(
        f"{login_service.registry_host_port}/alice/app:v1",
        tmp_path / "pulled",
        "v1",
        creds=f"alice:{ALICE_PASSWORD}",
    )

    assert oci.layout_tags(tmp_path / "pulled") == oci.layout_tags(layout)


def test_push_without_credentials_refused(login_service: RunningService, layout: Path) -> None:
    with pytest.raises(skopeo.SkopeoError) as caught:
        _push(login_service, layout, "alice/anonymous:v1", None)

    assert "unauthorized" in caught.value.stderr
    assert _tags(login_service, "alice/anonymous") == 404


def test_push_wrong_password_refused(login_service: RunningService, layout: Path) -> None:
    with pytest.raises(skopeo.SkopeoError) as caught:
        _push(login_service, layout, "alice/wrong:v1", "alice:not-the-password")

    assert "invalid username/password" in caught.value.stderr
    assert _tags(login_service, "alice/wrong") == 404


def test_push_other_namespace_refused(login_service: RunningService, layout: Path) -> None:
    with pytest.raises(skopeo.SkopeoError) as caught:
        _push(login_service, layout, "bob/intruder:v1", f"alice:{ALICE_PASSWORD}")

    assert "denied" in caught.value.stderr
    assert _tags(login_service, "bob/intruder") == 404


def test_pull_other_namespace_refused(
    login_service: RunningService, layout: Path, tmp_path: Path
) -> None:
    _push(login_service, layout, "bob/private:v1", f"bob:{BOB_PASSWORD}")

    with pytest.raises(skopeo.SkopeoError) as caught:
        skopeo.pull(
            f"{login_service.registry_host_port}/bob/private:v1",
            tmp_path / "pulled",
            "v1",
            creds=f"alice:{ALICE_PASSWORD}",
        )

    assert "unauthorized" in caught.value.stderr or "denied" in caught.value.stderr


def test_delete_own_image(login_service: RunningService, layout: Path) -> None:
    _push(login_service, layout, "alice/short-lived:v1", f"alice:{ALICE_PASSWORD}")

    skopeo.delete(
        f"{login_service.registry_host_port}/alice/short-lived:v1",
        creds=f"alice:{ALICE_PASSWORD}",
    )

    tags = login_service.registry_request("GET", "/v2/alice/short-lived/tags/list").json()
    assert tags["tags"] is None


def test_delete_other_namespace_refused(login_service: RunningService, layout: Path) -> None:
    _push(login_service, layout, "bob/keep:v1", f"bob:{BOB_PASSWORD}")

    with pytest.raises(skopeo.SkopeoError):
        skopeo.delete(
            f"{login_service.registry_host_port}/bob/keep:v1", creds=f"alice:{ALICE_PASSWORD}"
        )

    tags = login_service.registry_request("GET", "/v2/bob/keep/tags/list").json()
    assert tags["tags"] == ["v1"]


def _login(service: RunningService, home: Path, password: str) -> subprocess.CompletedProcess[str]:
    """Run ``skopeo login`` with the password on stdin and the auth file under ``home``."""
    return subprocess.run(
        [
            "skopeo",
            "login",
            "--tls-verify=false",
            f"--authfile={home / 'auth.json'}",
            "--username=alice",
            "--password-stdin",
            service.registry_host_port,
        ],
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, HOME=str(home)),
        check=False,
    )


def test_skopeo_login_then_copy(
    login_service: RunningService, layout: Path, tmp_path: Path
) -> None:
    login = _login(login_service, tmp_path, ALICE_PASSWORD)
    skopeo.push(
        layout,
        "v1",
        f"{login_service.registry_host_port}/alice/logged-in:v1",
        authfile=tmp_path / "auth.json",
    )

    assert login.returncode == 0, login.stderr
    assert "Login Succeeded" in login.stdout
    assert _tags(login_service, "alice/logged-in") == 200


def test_skopeo_login_wrong_password(login_service: RunningService, tmp_path: Path) -> None:
    login = _login(login_service, tmp_path, "wrong-password")

    assert login.returncode != 0
    assert not (tmp_path / "auth.json").exists()
