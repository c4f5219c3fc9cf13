"""POST /nerve/registry/check-images-status: available, missing, incomplete and invalid."""

from pathlib import Path

from tests.support import oci
from tests.support.service import ApiSession, RunningService


def _statuses(api: ApiSession, images: list[str]) -> list[dict[str, object]]:
    response = api.registry_call("check-images-status", {"images": images})
    assert response.status_code == 200, response.text
    entries: list[dict[str, object]] = response.json()["images"]
    return entries


def test_status_available(
    service: RunningService, api: ApiSession, oci_layout: Path, repository: str
) -> None:
    image = oci.write_image(oci_layout, "v1", layers=2)
    service.push(oci_layout, "v1", f"{repository}:v1")

    [entry] = _statuses(api, [f"{repository}:v1"])

    assert entry["status"] == "available"
    assert entry["digest"] == image.manifest_digest
    assert entry["image"] == f"{repository}:v1"


def test_status_by_digest(
    service: RunningService, api: ApiSession, oci_layout: Path, repository: str
) -> None:
    image = oci.write_image(oci_layout, "v1")
    service.push(oci_layout, "v1", f"{repository}:v1")

    [entry] = _statuses(api, [f"{repository}@{image.manifest_digest}"])

    assert entry["status"] == "available"


def test_status_bare_name_means_latest(
    service: RunningService, api: ApiSession, oci_layout: Path, repository: str
) -> None:
    oci.write_image(oci_layout, "v1")
    service.push(oci_layout, "v1", f"{repository}:v1")

    [without_latest] = _statuses(api, [repository])
    service.push(oci_layout, "v1", f"{repository}:latest")
    [with_latest] = _statuses(api, [repository])

    assert without_latest["status"] == "missing"
    assert "'latest'" in str(without_latest["message"])
    assert with_latest["status"] == "available"


def test_status_missing_kinds(
    service: RunningService, api: ApiSession, oci_layout: Path, repository: str
) -> None:
    oci.write_image(oci_layout, "v1")
    service.push(oci_layout, "v1", f"{repository}:v1")
    unknown_digest = "sha256:" + "0" * 64

    entries = _statuses(
        api, ["tests/no-such-image:v1", f"{repository}:v9", f"{repository}@{unknown_digest}"]
    )

    assert [entry["status"] for entry in entries] == ["missing"] * 3
    assert all(entry["digest"] is None for entry in entries)
    assert "tests/no-such-image" in str(entries[0]["message"])
    assert "'v9'" in str(entries[1]["message"])
    assert unknown_digest in str(entries[2]["message"])


def test_status_incomplete_layer(
    service: RunningService, api: ApiSession, oci_layout: Path, repository: str
) -> None:
    image = oci.write_image(oci_layout, "v1", layers=2)
    service.push(oci_layout, "v1", f"{repository}:v1")
    missing = image.layer_digests[1]

    deleted = service.registry_request("DELETE", f"/v2/{repository}/blobs/{missing}")
    [entry] = _statuses(api, [f"{repository}:v1"])

    assert deleted.status_code == 202
    assert entry["status"] == "incomplete"
    assert entry["digest"] == image.manifest_digest
    assert missing in str(entry["message"])


def test_status_incomplete_config(
    service: RunningService, api: ApiSession, oci_layout: Path, repository: str
) -> None:
    image = oci.write_image(oci_layout, "v1")
    service.push(oci_layout, "v1", f"{repository}:v1")

    service.registry_request("DELETE", f"/v2/{repository}/blobs/{image.config_digest}")
    [entry] = _statuses(api, [f"{repository}:v1"])

    assert entry["status"] == "incomplete"
    assert f"config {image.config_digest}" in str(entry["message"])


def test_status_index_available(
    service: RunningService, api: ApiSession, oci_layout: Path, repository: str
) -> None:
    index = oci.write_index(oci_layout, "multi")
    service.push(oci_layout, "multi", f"{repository}:multi", all_images=True)

    [entry] = _statuses(api, [f"{repository}:multi"])

    assert entry["status"] == "available"
    assert entry["digest"] == index.index_digest


def test_status_index_missing_child(
    service: RunningService, api: ApiSession, oci_layout: Path, repository: str
) -> None:
    index = oci.write_index(oci_layout, "multi")
    service.push(oci_layout, "multi", f"{repository}:multi", all_images=True)
    child = index.children[1].manifest_digest

    deleted = service.registry_request("DELETE", f"/v2/{repository}/manifests/{child}")
    [entry] = _statuses(api, [f"{repository}:multi"])

    assert deleted.status_code == 202
    assert entry["status"] == "incomplete"
    assert f"child manifest {child}" in str(entry["message"])
    assert "linux/arm64/v8" in str(entry["message"])


def test_status_index_child_missing_layer(
    service: RunningService, api: ApiSession, oci_layout: Path, repository: str
) -> None:
    index = oci.write_index(oci_layout, "multi")
    service.push(oci_layout, "multi", f"{repository}:multi", all_images=True)
    layer = index.children[0].layer_digests[0]

    service.registry_request("DELETE", f"/v2/{repository}/blobs/{layer}")
    [entry] = _statuses(api, [f"{repository}:multi"])

    assert entry["status"] == "incomplete"
    assert layer in str(entry["message"])


def test_status_invalid_references(api: ApiSession) -> None:
    references = ["Tests/Upper:v1", "tests/x:bad tag", "tests/x@sha256:short", "", "host:5000/x:y"]

    entries = _statuses(api, references)

    assert [entry["status"] for entry in entries] == ["invalid"] * len(references)
    assert [entry["image"] for entry in entries] == references
    assert "images[1]" in str(entries[1]["message"])


def test_status_keeps_request_order(
    service: RunningService, api: ApiSession, oci_layout: Path, repository: str
) -> None:
    oci.write_image(oci_layout, "v1")
    service.push(oci_layout, "v1", f"{repository}:v1")
    references = [f"{repository}:v1", "BAD", f"{repository}:v2", f"{repository}:v1"]

    entries = _statuses(api, references)

    assert [entry["image"] for entry in entries] == references
    assert [entry["status"] for entry in entries] == [
        "available",
        "invalid",
        "missing",
        "available",
    ]


def test_status_empty_list(api: ApiSession) -> None:
    assert _statuses(api, []) == []


def test_status_tag_and_digest_disagree(
    service: RunningService, api: ApiSession, oci_layout: Path, repository: str
) -> None:
    first = oci.write_image(oci_layout, "v1", seed="first")
    service.push(oci_layout, "v1", f"{repository}:old")
    second = oci.write_image(oci_layout, "v2", seed="second")
    service.push(oci_layout, "v2", f"{repository}:v1")

    [entry] = _statuses(api, [f"{repository}:v1@{first.manifest_digest}"])

    assert entry["status"] == "available"
    assert entry["digest"] == first.manifest_digest
    assert second.manifest_digest in str(entry["message"])
