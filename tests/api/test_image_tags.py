"""POST /nerve/registry/image-tags: digest, media type, size, created time and platforms."""

from pathlib import Path

from tests.support import oci
from tests.support.service import ApiSession, RunningService


def _tags(api: ApiSession, image: str) -> dict[str, dict[str, object]]:
    response = api.registry_call("image-tags", {"image": image})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["image"] == image
    return {entry["tag"]: entry for entry in body["tags"]}


def test_image_tags_single_manifest(
    service: RunningService, api: ApiSession, oci_layout: Path, repository: str
) -> None:
    image = oci.write_image(
        oci_layout, "v1", layers=3, created="2025-03-04T05:06:07.123456789Z", architecture="arm64"
    )
    service.push(oci_layout, "v1", f"{repository}:v1")

    entry = _tags(api, repository)["v1"]

    assert entry["digest"] == image.manifest_digest
    assert entry["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert entry["size"] == image.total_size
    assert entry["created"] == "2025-03-04T05:06:07Z"
    assert entry["platforms"] == ["linux/arm64"]


def test_image_tags_oci_index(
    service: RunningService, api: ApiSession, oci_layout: Path, repository: str
) -> None:
    index = oci.write_index(oci_layout, "multi", created="2025-01-02T03:04:05Z")
    service.push(oci_layout, "multi", f"{repository}:multi", all_images=True)

    entry = _tags(api, repository)["multi"]

    assert entry["digest"] == index.index_digest
    assert entry["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert entry["platforms"] == ["linux/amd64", "linux/arm64/v8"]
    assert entry["size"] == index.total_size
    assert entry["created"] == "2025-01-02T03:04:05Z"


def test_image_tags_docker_manifest_list(
    service: RunningService, api: ApiSession, oci_layout: Path, repository: str
) -> None:
    index = oci.write_index(oci_layout, "list", docker_media_types=True)
    service.push(oci_layout, "list", f"{repository}:list", all_images=True)

    entry = _tags(api, repository)["list"]

    assert entry["digest"] == index.index_digest
    assert entry["mediaType"] == "application/vnd.docker.distribution.manifest.list.v2+json"
    assert entry["platforms"] == ["linux/amd64", "linux/arm64/v8"]
    assert entry["size"] == index.total_size


def test_image_tags_docker_manifest(
    service: RunningService, api: ApiSession, oci_layout: Path, repository: str
) -> None:
    image = oci.write_image(oci_layout, "d1", docker_media_types=True)
    service.push(oci_layout, "d1", f"{repository}:d1")

    entry = _tags(api, repository)["d1"]

    assert entry["digest"] == image.manifest_digest
    assert entry["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert entry["size"] == image.total_size


def test_image_tags_shared_digest(
    service: RunningService, api: ApiSession, oci_layout: Path, repository: str
) -> None:
    oci.write_image(oci_layout, "v1")
    for tag in ("v1", "stable"):
        service.push(oci_layout, "v1", f"{repository}:{tag}")

    entries = _tags(api, repository)

    assert set(entries) == {"v1", "stable"}
    assert entries["v1"]["digest"] == entries["stable"]["digest"]


def test_image_tags_unknown_image(api: ApiSession) -> None:
    response = api.registry_call("image-tags", {"image": "tests/never-pushed"})

    assert response.status_code == 404
    assert response.json()["errorCode"] == "IMAGE_NOT_FOUND"
    assert "tests/never-pushed" in response.json()["message"]


def test_image_tags_sorted(
    service: RunningService, api: ApiSession, oci_layout: Path, repository: str
) -> None:
    oci.write_image(oci_layout, "v1")
    pushed = ["zz", "v1", "aa", "stable", "10", "9"]
    for tag in pushed:
        service.push(oci_layout, "v1", f"{repository}:{tag}")

    response = api.registry_call("image-tags", {"image": repository})

    assert [entry["tag"] for entry in response.json()["tags"]] == sorted(pushed)
