"""tests.support.skopeo: errors that keep skopeo's message, and credentials kept out of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import oci, skopeo
from tests.support.ports import free_port
from tests.support.registry import RunningRegistry


def test_failure_raises_with_stderr(oci_layout: Path) -> None:
    oci.write_image(oci_layout, "v1")
    closed = f"127.0.0.1:{free_port()}"

    with pytest.raises(skopeo.SkopeoError) as raised:
        skopeo.push(oci_layout, "v1", f"{closed}/team/app:v1")

    assert raised.value.returncode != 0
    assert "connection refused" in raised.value.stderr
    assert "connection refused" in str(raised.value)


def test_failure_hides_password(oci_layout: Path) -> None:
    oci.write_image(oci_layout, "v1")
    closed = f"127.0.0.1:{free_port()}"

    with pytest.raises(skopeo.SkopeoError) as raised:
        skopeo.push(oci_layout, "v1", f"{closed}/team/app:v1", creds="tester:example-password")

    assert "--dest-creds=tester:***" in str(raised.value)
    assert "example-password" not in str(raised.value)


def test_creds_ignored_without_auth(registry: RunningRegistry, oci_layout: Path) -> None:
    oci.write_image(oci_layout, "v1", seed="creds")

    result = skopeo.push(
        oci_layout, "v1", f"{registry.host_port}/wrapper/creds:v1", creds="tester:example"
    )

    assert result.returncode == 0


def test_authfile_option_passed(registry: RunningRegistry, oci_layout: Path) -> None:
    oci.write_image(oci_layout, "v1", seed="authfile")
    authfile = oci_layout.parent / "auth.json"
    authfile.write_text('{"auths": {}}')

    result = skopeo.push(
        oci_layout, "v1", f"{registry.host_port}/wrapper/authfile:v1", authfile=authfile
    )

    assert result.returncode == 0


def test_delete_removes_manifest(registry: RunningRegistry, oci_layout: Path) -> None:
    oci.write_image(oci_layout, "v1", seed="delete")
    reference = f"{registry.host_port}/wrapper/delete:v1"
    skopeo.push(oci_layout, "v1", reference)

    skopeo.delete(reference)

    with pytest.raises(skopeo.SkopeoError) as raised:
        skopeo.inspect_raw(reference)
    assert "manifest unknown" in raised.value.stderr
