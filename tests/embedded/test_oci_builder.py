"""tests.support.oci: layouts on disk, and what the registry stores after skopeo pushes them."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from tests.support import oci, skopeo
from tests.support.registry import RunningRegistry


def _json_blob(layout: Path, digest: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(oci.read_blob(layout, digest))
    return value


def _layer_members(layout: Path, digest: str) -> dict[str, bytes]:
    tar_bytes = gzip.decompress(oci.read_blob(layout, digest))
    members = {}
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as archive:
        for member in archive.getmembers():
            extracted = archive.extractfile(member)
            members[member.name] = extracted.read() if extracted else b""
    return members


def _raw_manifest(registry: RunningRegistry, reference: str) -> bytes:
    return skopeo.inspect_raw(f"{registry.host_port}/{reference}").stdout.encode()


# Layouts on disk, without a registry.


def test_layout_has_marker_file(oci_layout: Path) -> None:
    oci.write_image(oci_layout, "v1")

    assert json.loads((oci_layout / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}


def test_layout_index_names_tag(oci_layout: Path) -> None:
    image = oci.write_image(oci_layout, "v1")

    assert oci.layout_tags(oci_layout) == {"v1": image.manifest_digest}


def test_layout_holds_several_tags(oci_layout: Path) -> None:
    first = oci.write_image(oci_layout, "v1", seed="one")
    second = oci.write_image(oci_layout, "v2", seed="two")

    assert oci.layout_tags(oci_layout) == {
        "v1": first.manifest_digest,
        "v2": second.manifest_digest,
    }


def test_layout_retag_replaces_entry(oci_layout: Path) -> None:
    oci.write_image(oci_layout, "v1", seed="old")
    newer = oci.write_image(oci_layout, "v1", seed="new")

    assert oci.layout_tags(oci_layout) == {"v1": newer.manifest_digest}


def test_layout_retag_as_docker_moves_tag(oci_layout: Path) -> None:
    oci.write_image(oci_layout, "v1")
    docker = oci.write_image(oci_layout, "v1", docker_media_types=True)

    assert "v1" not in oci.layout_tags(oci_layout)
    assert docker.source == f"dir:{oci_layout / 'docker' / 'v1'}"


def test_layout_retag_as_oci_removes_docker_copy(oci_layout: Path) -> None:
    oci.write_image(oci_layout, "v1", docker_media_types=True)
    image = oci.write_image(oci_layout, "v1")

    assert not (oci_layout / "docker" / "v1").exists()
    assert oci.layout_tags(oci_layout) == {"v1": image.manifest_digest}


def test_image_same_arguments_same_digest(tmp_path: Path) -> None:
    first = oci.write_image(tmp_path / "one", "v1", layers=2, seed="same")
    second = oci.write_image(tmp_path / "two", "v1", layers=2, seed="same")

    assert first.manifest_digest == second.manifest_digest


def test_image_tag_not_part_of_content(oci_layout: Path) -> None:
    first = oci.write_image(oci_layout, "v1")
    second = oci.write_image(oci_layout, "latest")

    assert first.manifest_digest == second.manifest_digest


def test_image_seed_changes_digest(oci_layout: Path) -> None:
    first = oci.write_image(oci_layout, "v1", seed="a")
    second = oci.write_image(oci_layout, "v2", seed="b")

    assert first.manifest_digest != second.manifest_digest
    assert set(first.layer_digests).isdisjoint(second.layer_digests)


def test_image_manifest_digest_matches_blob(oci_layout: Path) -> None:
    image = oci.write_image(oci_layout, "v1")

    assert oci.digest_of(oci.read_blob(oci_layout, image.manifest_digest)) == image.manifest_digest


def test_image_layer_count(oci_layout: Path) -> None:
    image = oci.write_image(oci_layout, "v1", layers=3)

    manifest = _json_blob(oci_layout, image.manifest_digest)

    assert len(manifest["layers"]) == 3
    assert len(image.layer_digests) == 3


def test_image_files_in_first_layer(oci_layout: Path) -> None:
    image = oci.write_image(oci_layout, "v1", files={"etc/app/app.conf": b"level=debug\n"})

    members = _layer_members(oci_layout, image.layer_digests[0])

    assert members["etc/app/app.conf"] == b"level=debug\n"
    assert "etc/app" in members


def test_image_diff_ids_match_layers(oci_layout: Path) -> None:
    image = oci.write_image(oci_layout, "v1", layers=2)

    config = _json_blob(oci_layout, image.config_digest)
    uncompressed = [
        oci.digest_of(gzip.decompress(oci.read_blob(oci_layout, digest)))
        for digest in image.layer_digests
    ]

    assert config["rootfs"] == {"type": "layers", "diff_ids": uncompressed}


def test_image_config_platform(oci_layout: Path) -> None:
    image = oci.write_image(oci_layout, "v1", architecture="arm64", variant="v8")

    config = _json_blob(oci_layout, image.config_digest)

    assert (config["os"], config["architecture"], config["variant"]) == ("linux", "arm64", "v8")
    assert image.platform == "linux/arm64/v8"


def test_image_created_from_datetime(oci_layout: Path) -> None:
    created = datetime(2023, 5, 6, 9, 30, tzinfo=timezone(timedelta(hours=2)))

    image = oci.write_image(oci_layout, "v1", created=created)

    assert _json_blob(oci_layout, image.config_digest)["created"] == "2023-05-06T07:30:00Z"


def test_image_created_naive_datetime_is_utc(oci_layout: Path) -> None:
    image = oci.write_image(oci_layout, "v1", created=datetime(2023, 5, 6, 7, 30))

    assert image.created == datetime(2023, 5, 6, 7, 30, tzinfo=UTC).isoformat().replace(
        "+00:00", "Z"
    )


def test_image_labels_in_config(oci_layout: Path) -> None:
    image = oci.write_image(oci_layout, "v1", labels={"org.example.team": "edge"})

    config = _json_blob(oci_layout, image.config_digest)

    assert config["config"]["Labels"] == {"org.example.team": "edge"}


def test_image_total_size_counts_all_blobs(oci_layout: Path) -> None:
    image = oci.write_image(oci_layout, "v1", layers=2)

    sizes = [
        len(oci.read_blob(oci_layout, digest))
        for digest in (image.manifest_digest, *image.blob_digests)
    ]

    assert image.total_size == sum(sizes)


def test_layers_are_reproducible_gzip(oci_layout: Path) -> None:
    image = oci.write_image(oci_layout, "v1")

    header = oci.read_blob(oci_layout, image.layer_digests[0])[:10]

    assert header[:2] == b"\x1f\x8b"
    assert header[4:8] == b"\x00\x00\x00\x00"  # gzip MTIME field


def test_index_children_per_platform(oci_layout: Path) -> None:
    index = oci.write_index(oci_layout, "multi")

    assert index.platforms == ("linux/amd64", "linux/arm64/v8")
    assert index.children[0].manifest_digest != index.children[1].manifest_digest


def test_index_blob_lists_children(oci_layout: Path) -> None:
    index = oci.write_index(oci_layout, "multi")

    document = _json_blob(oci_layout, index.index_digest)

    assert document["mediaType"] == oci.OCI_INDEX
    assert [entry["digest"] for entry in document["manifests"]] == [
        child.manifest_digest for child in index.children
    ]
    assert document["manifests"][1]["platform"] == {
        "architecture": "arm64",
        "os": "linux",
        "variant": "v8",
    }


def test_index_total_size(oci_layout: Path) -> None:
    index = oci.write_index(oci_layout, "multi")

    assert index.total_size == index.index_size + sum(child.total_size for child in index.children)


def test_docker_image_written_as_dir_transport(oci_layout: Path) -> None:
    image = oci.write_image(oci_layout, "v1", docker_media_types=True)

    directory = oci_layout / "docker" / "v1"

    assert image.source == f"dir:{directory}"
    assert oci.digest_of((directory / "manifest.json").read_bytes()) == image.manifest_digest
    assert "v1" not in oci.layout_tags(oci_layout)


def test_docker_image_media_types(oci_layout: Path) -> None:
    image = oci.write_image(oci_layout, "v1", docker_media_types=True)

    manifest = _json_blob(oci_layout, image.manifest_digest)

    assert manifest["mediaType"] == oci.DOCKER_MANIFEST
    assert manifest["config"]["mediaType"] == oci.DOCKER_CONFIG
    assert manifest["layers"][0]["mediaType"] == oci.DOCKER_LAYER_GZIP


# What the registry stores after a push.


def test_pushed_image_keeps_digest(registry: RunningRegistry, oci_layout: Path) -> None:
    image = oci.write_image(oci_layout, "v1", seed="pushed image")

    skopeo.push(oci_layout, "v1", f"{registry.host_port}/builder/image:v1")

    assert oci.digest_of(_raw_manifest(registry, "builder/image:v1")) == image.manifest_digest


def test_pushed_index_keeps_children(registry: RunningRegistry, oci_layout: Path) -> None:
    index = oci.write_index(oci_layout, "multi", seed="pushed index")

    skopeo.push(oci_layout, "multi", f"{registry.host_port}/builder/index:v1", all_images=True)
    raw = _raw_manifest(registry, "builder/index:v1")
    document = json.loads(raw)

    assert oci.digest_of(raw) == index.index_digest
    assert document["mediaType"] == oci.OCI_INDEX
    assert [entry["digest"] for entry in document["manifests"]] == [
        child.manifest_digest for child in index.children
    ]


def test_pushed_index_children_present(registry: RunningRegistry, oci_layout: Path) -> None:
    index = oci.write_index(oci_layout, "multi", seed="index children")

    skopeo.push(oci_layout, "multi", f"{registry.host_port}/builder/children:v1", all_images=True)

    for child in index.children:
        raw = _raw_manifest(registry, f"builder/children@{child.manifest_digest}")
        assert oci.digest_of(raw) == child.manifest_digest


def test_index_without_all_pushes_one_child(registry: RunningRegistry, oci_layout: Path) -> None:
    index = oci.write_index(oci_layout, "multi", seed="index without all")

    skopeo.push(oci_layout, "multi", f"{registry.host_port}/builder/single:v1")

    digest = oci.digest_of(_raw_manifest(registry, "builder/single:v1"))
    assert digest in {child.manifest_digest for child in index.children}


def test_pushed_docker_image_keeps_type(registry: RunningRegistry, oci_layout: Path) -> None:
    image = oci.write_image(oci_layout, "v1", docker_media_types=True, seed="docker image")

    skopeo.push(oci_layout, "v1", f"{registry.host_port}/builder/docker-image:v1")
    raw = _raw_manifest(registry, "builder/docker-image:v1")

    assert oci.digest_of(raw) == image.manifest_digest
    assert json.loads(raw)["mediaType"] == oci.DOCKER_MANIFEST


def test_pushed_docker_list_keeps_type(registry: RunningRegistry, oci_layout: Path) -> None:
    index = oci.write_index(oci_layout, "multi", docker_media_types=True, seed="docker list")

    skopeo.push(
        oci_layout, "multi", f"{registry.host_port}/builder/docker-list:v1", all_images=True
    )
    raw = _raw_manifest(registry, "builder/docker-list:v1")
    document = json.loads(raw)

    assert oci.digest_of(raw) == index.index_digest
    assert document["mediaType"] == oci.DOCKER_MANIFEST_LIST
    assert {entry["mediaType"] for entry in document["manifests"]} == {oci.DOCKER_MANIFEST}
