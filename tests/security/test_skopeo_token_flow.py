"""skopeo 1.9.3 pushing through the registry's token challenge to the tiny token server.

The registry and the token realm both serve plain HTTP on 127.0.0.1. skopeo
needs ``--dest-tls-verify=false`` for the registry, because it tries HTTPS
first and falls back to HTTP only with verification off. It fetches an
``http://`` realm as given and needs no option for that.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
import pytest

from nerve_registry.security import SigningKey, issue_registry_token, parse_scopes
from tests.support.oci import ImageInfo, write_image

from .conftest import ISSUER, PASSWORD, SERVICE, USERNAME
from .registry_process import RegistryProcess
from .token_server import TokenServer

SKOPEO_TIMEOUT_SECONDS = 120
MANIFEST_ACCEPT = "application/vnd.oci.image.manifest.v1+json"


@pytest.fixture
def image(tmp_path: Path) -> tuple[Path, ImageInfo]:
    layout = tmp_path / "layout"
    return layout, write_image(layout, "v1", seed="token flow")


def _skopeo_copy(
    layout: Path, registry: RegistryProcess, repository: str, creds: str, home: Path
) -> subprocess.CompletedProcess[str]:
    """Push ``layout:v1`` to ``repository:v1``, with HOME away from any real auth file."""
    command = [
        "skopeo",
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        creds,
        f"oci:{layout}:v1",
        f"docker://127.0.0.1:{registry.port}/{repository}:v1",
    ]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=SKOPEO_TIMEOUT_SECONDS,
        env=dict(os.environ, HOME=str(home)),
        check=False,
    )


def _manifest_status(
    registry: RegistryProcess, signing_key: SigningKey, repository: str
) -> httpx.Response:
    token = issue_registry_token(
        signing_key,
        subject="test",
        audience=SERVICE,
        issuer=ISSUER,
        access=parse_scopes([f"repository:{repository}:pull"]),
    ).token
    return httpx.get(
        f"{registry.url}/v2/{repository}/manifests/v1",
        headers={"Authorization": f"Bearer {token}", "Accept": MANIFEST_ACCEPT},
    )


def test_push_with_password(
    token_registry: RegistryProcess,
    token_server: TokenServer,
    signing_key: SigningKey,
    image: tuple[Path, ImageInfo],
    tmp_path: Path,
) -> None:
    layout, info = image

    result = _skopeo_copy(
        layout, token_registry, f"{USERNAME}/app", f"{USERNAME}:{PASSWORD}", tmp_path
    )

    assert result.returncode == 0, result.stderr
    manifest = _manifest_status(token_registry, signing_key, f"{USERNAME}/app")
    assert manifest.status_code == 200
    assert manifest.headers["Docker-Content-Digest"] == info.manifest_digest


def test_push_requests_pull_push_scope(
    token_registry: RegistryProcess,
    token_server: TokenServer,
    image: tuple[Path, ImageInfo],
    tmp_path: Path,
) -> None:
    layout, _ = image

    result = _skopeo_copy(
        layout, token_registry, f"{USERNAME}/scoped", f"{USERNAME}:{PASSWORD}", tmp_path
    )

    assert result.returncode == 0, result.stderr
    # skopeo may add a pull scope on another repository when its blob cache
    # suggests mounting a blob from there, so look for the push scope alone.
    skopeo_scopes = {
        scope
        for request in token_server.requests
        if "skopeo" in request.user_agent
        for value in request.scopes
        for scope in value.split()
    }
    assert f"repository:{USERNAME}/scoped:pull,push" in skopeo_scopes


def test_push_with_wrong_password(
    token_registry: RegistryProcess,
    signing_key: SigningKey,
    image: tuple[Path, ImageInfo],
    tmp_path: Path,
) -> None:
    layout, _ = image

    result = _skopeo_copy(
        layout, token_registry, f"{USERNAME}/denied", f"{USERNAME}:wrong-password", tmp_path
    )

    assert result.returncode != 0
    assert "invalid username/password" in result.stderr
    assert _manifest_status(token_registry, signing_key, f"{USERNAME}/denied").status_code == 404


def test_push_outside_namespace(
    token_registry: RegistryProcess,
    signing_key: SigningKey,
    image: tuple[Path, ImageInfo],
    tmp_path: Path,
) -> None:
    layout, _ = image

    result = _skopeo_copy(
        layout, token_registry, "someone-else/app", f"{USERNAME}:{PASSWORD}", tmp_path
    )

    assert result.returncode != 0
    assert "denied" in result.stderr
    assert _manifest_status(token_registry, signing_key, "someone-else/app").status_code == 404
