"""POST /nerve/registry/delete-image-tag: exactly the named tag goes, everything else stays."""

from pathlib import Path

import pytest
import requests

from tests.support import oci
from tests.support.service import ApiSession, RunningService

INDEX_ACCEPT = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json"


def _delete(api: ApiSession, image: str, tag: str) -> requests.Response:
    return api.registry_call("delete-image-tag", {"image": image, "tag": tag})


def _tag_digests(api: ApiSession, image: str) -> dict[str, str]:
    response = api.registry_call("image-tags", {"image": image})
    if response.status_code == 404:
        return {}
    return {entry["tag"]: entry["digest"] for entry in response.json()["tags"]}


def _manifest_status(service: RunningService, repository: str, digest: str) -> int:
    response = service.registry_request(
        "HEAD",
        f"/v2/{repository}/manifests/{digest}",
        headers={"Accept": INDEX_ACCEPT},
    )
    return response.status_code


def test_delete_one_of_two_tags(
    service: RunningService, api: ApiSession, oci_layout: Path, tmp_path: Path, repository: str
) -> None:
    image = oci.write_image(oci_layout, "v1")
    for tag in ("v1", "stable"):
        service.push(oci_layout, "v1", f"{repository}:{tag}")

    response = _delete(api, repository, "v1")
    remaining = _tag_digests(api, repository)
    service.pull(f"{repository}:stable", tmp_path / "pulled", "stable")

    assert response.status_code == 200
    assert response.json() == {
        "image": repository,
        "tag": "v1",
        "digest": image.manifest_digest,
        "deleted": True,
    }
    assert remaining == {"stable": image.manifest_digest}
    assert oci.layout_tags(tmp_path / "pulled") == {"stable": image.manifest_digest}


def test_delete_last_tag_removes_manifest(
    service: RunningService, api: ApiSession, oci_layout: Path, repository: str
) -> None:
    image = oci.write_image(oci_layout, "v1")
    service.push(oci_layout, "v1", f"{repository}:v1")

    response = _delete(api, repository, "v1")

    assert response.status_code == 200
    assert _tag_digests(api, repository) == {}
    assert _manifest_status(service, repository, image.manifest_digest) == 404


def test_delete_index_keeps_child_of_other_tag(
    service: RunningService, api: ApiSession, oci_layout: Path, tmp_path: Path, repository: str
) -> None:
    index = oci.write_index(oci_layout, "multi")
    kept_child = index.children[0]
    service.push(oci_layout, "multi", f"{repository}:multi", all_images=True)
    service.push(oci_layout, "multi", f"{repository}:second", all_images=True)

    response = _delete(api, repository, "multi")
    service.pull(
        f"{repository}:second",
        tmp_path / "pulled",
        "second",
        all_images=True,
    )

    assert response.status_code == 200
    assert _tag_digests(api, repository) == {"second": index.index_digest}
    assert _manifest_status(service, repository, kept_child.manifest_digest) == 200


def test_delete_index_removes_unneeded_children(
    service: RunningService, api: ApiSession, oci_layout: Path, repository: str
) -> None:
    index = oci.write_index(oci_layout, "multi")
    service.push(oci_layout, "multi", f"{repository}:multi", all_images=True)

    _delete(api, repository, "multi")

    assert _manifest_status(service, repository, index.index_digest) == 404
    for child in index.children:
        assert _manifest_status(service, repository, child.manifest_digest) == 404


def test_delete_tag_of_index_child(
    service: RunningService, api: ApiSession, oci_layout: Path, tmp_path: Path, repository: str
) -> None:
    index = oci.write_index(oci_layout, "multi")
    child = index.children[0]
    service.push(oci_layout, "multi", f"{repository}:multi", all_images=True)
    service.copy(f"{repository}@{child.manifest_digest}", f"{repository}:amd64")

    response = _delete(api, repository, "amd64")

    assert response.status_code == 200
    assert _manifest_status(service, repository, child.manifest_digest) == 200
    service.pull(
        f"{repository}:multi",
        tmp_path / "pulled",
        "multi",
        all_images=True,
    )


def test_delete_unknown_tag(
    service: RunningService, api: ApiSession, oci_layout: Path, repository: str
) -> None:
    oci.write_image(oci_layout, "v1")
    service.push(oci_layout, "v1", f"{repository}:v1")

    response = _delete(api, repository, "v9")

    assert response.status_code == 404
    assert response.json()["errorCode"] == "TAG_NOT_FOUND"
    assert _tag_digests(api, repository).keys() == {"v1"}


def test_delete_unknown_image(api: ApiSession) -> None:
    response = _delete(api, "tests/never-pushed", "v1")

    assert response.status_code == 404
    assert response.json()["errorCode"] == "IMAGE_NOT_FOUND"


def test_delete_twice(
    service: RunningService, api: ApiSession, oci_layout: Path, repository: str
) -> None:
    oci.write_image(oci_layout, "v1")
    for tag in ("v1", "v2"):
        service.push(oci_layout, "v1", f"{repository}:{tag}")

    first = _delete(api, repository, "v1")
    second = _delete(api, repository, "v1")

    assert first.status_code == 200
    assert second.status_code == 404
    assert _tag_digests(api, repository).keys() == {"v2"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"image": "Tests/App", "tag": "v1"}, "image"),
        ({"image": "tests/app", "tag": "-v1"}, "tag"),
        ({"image": "tests/../app", "tag": "v1"}, "image"),
        ({"image": "tests/app", "tag": "v1/../../x"}, "tag"),
        ({"image": "tests/app"}, "tag"),
        ({"tag": "v1"}, "image"),
        ({"image": 5, "tag": "v1"}, "image"),
        ({"image": "tests/app", "tag": ["v1"]}, "tag"),
    ],
)
def test_delete_invalid_input(api: ApiSession, body: dict[str, object], field: str) -> None:
    response = api.registry_call("delete-image-tag", body)

    assert response.status_code == 400
    assert f"'{field}'" in response.json()["message"]
