"""nerve_lib against the real MS registry service: the four calls, paging and re-login."""

from pathlib import Path

import pytest
import requests

from nerve_lib import CheckStatusCodeError, InternalRegistry, MSHandle
from tests.support import oci
from tests.support.service import RunningService


@pytest.fixture
def ms(service: RunningService) -> MSHandle:
    return MSHandle(service.url, "admin", service.admin_password)


def test_client_four_calls(
    service: RunningService, ms: MSHandle, oci_layout: Path, repository: str
) -> None:
    image = oci.write_image(oci_layout, "v1")
    for tag in ("v1", "v2"):
        service.push(oci_layout, "v1", f"{repository}:{tag}")

    with ms:
        registry = InternalRegistry(ms)
        # The name without its last letter sorts right before the repository.
        listed = registry.get_registry_images(last=repository[:-1], limit=1)
        tags = registry.get_image_tags(repository)
        status = registry.check_image_status([f"{repository}:v1", f"{repository}:v9"])
        deleted = registry.delete_image_tag(repository, "v1")
        after = registry.get_image_tags(repository)

    assert listed["images"][0]["name"] == repository
    assert {entry["tag"] for entry in tags["tags"]} == {"v1", "v2"}
    assert [entry["status"] for entry in status["images"]] == ["available", "missing"]
    assert deleted["digest"] == image.manifest_digest
    assert [entry["tag"] for entry in after["tags"]] == ["v2"]


def test_client_iterates_every_image(
    service: RunningService, ms: MSHandle, oci_layout: Path, repository: str
) -> None:
    oci.write_image(oci_layout, "v1")
    names = [f"{repository}/n{number:02d}" for number in range(12)]
    for name in names:
        service.push(oci_layout, "v1", f"{name}:v1")

    with ms:
        seen = [image["name"] for image in InternalRegistry(ms).iter_registry_images(page_size=5)]

    assert [name for name in seen if name.startswith(repository + "/")] == names
    assert len(seen) == len(set(seen))


def test_client_relogs_after_session_ends(service: RunningService, ms: MSHandle) -> None:
    with ms:
        registry = InternalRegistry(ms)
        registry.get_registry_images(limit=1)
        old_session = ms.headers["sessionid"]
        requests.get(f"{service.url}/auth/logout", headers={"sessionid": old_session}, timeout=10)

        result = registry.get_registry_images(limit=1)

        assert "images" in result
        assert ms.headers["sessionid"] != old_session


def test_client_error_carries_body(ms: MSHandle) -> None:
    with ms, pytest.raises(CheckStatusCodeError) as caught:
        InternalRegistry(ms).get_image_tags("tests/never-pushed")

    assert caught.value.status_code == 404
    assert "IMAGE_NOT_FOUND" in caught.value.response_text
    assert "404" in caught.value.value


def test_client_bad_password(service: RunningService) -> None:
    handle = MSHandle(service.url, "admin", "not-the-password")

    with pytest.raises(CheckStatusCodeError) as caught:
        handle.login()

    assert caught.value.status_code == 403
    handle.close()


def test_client_version(service: RunningService, ms: MSHandle) -> None:
    with ms:
        assert ms.version.count(".") == 2
