"""Write OCI image layouts on disk that skopeo can push, without network access.

The layout follows the OCI image layout specification 1.0: an ``oci-layout``
file, ``index.json`` naming each tag with the ``org.opencontainers.image.ref.name``
annotation, and content-addressed blobs under ``blobs/sha256/``. Several tags may
share one layout directory: ``skopeo copy oci:DIR:TAG docker://...`` pushes one.

Images are deterministic. Layers are gzip-compressed tars with fixed timestamps
and owners, so the same arguments give the same digests on every run. The
content depends on every argument except the tag: the same arguments under two
tags give one manifest with two tags, and a different ``seed`` gives a different image.

``docker_media_types=True`` writes Docker schema 2 media types (image manifest
v2, manifest list v2). skopeo 1.9.3's ``oci:`` transport cannot push those
unchanged. It skips ``index.json`` entries whose media type is not an OCI one
("no descriptor found for reference"). Given an OCI descriptor, it re-encodes a
Docker manifest list as an OCI index, which changes the digest, and with
``--preserve-digests`` the copy fails ("Manifest list must be converted to type
...index.v1+json ... but we cannot modify it"). So Docker images go to
``LAYOUT_DIR/docker/TAG`` in skopeo's ``dir:`` transport format instead, which
skopeo pushes byte for byte. ``source_reference()`` names the right source.

Observed with skopeo 1.9.3 and Distribution 2.8.2: OCI manifests and indexes and
Docker manifests and manifest lists arrive in the registry with the digests
computed here. Pushing an index without ``--all`` pushes only the child for the
machine's platform, under the index's tag.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"

REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"

# Subdirectory of a layout with one skopeo ``dir:`` transport directory per Docker tag.
DOCKER_DIR_NAME = "docker"
_DIR_TRANSPORT_VERSION = "Directory Transport Version: 1.1\n"

DEFAULT_CREATED = "2024-01-01T00:00:00Z"
DEFAULT_PLATFORMS: tuple[tuple[str, str, str | None], ...] = (
    ("linux", "amd64", None),
    ("linux", "arm64", "v8"),
)

# Modification time of every tar entry: 2024-01-01T00:00:00Z as a Unix timestamp.
_TAR_MTIME = 1_704_067_200


@dataclass(frozen=True)
class ImageInfo:
    """Digests and sizes of one image manifest written by ``write_image``."""

    tag: str
    manifest_digest: str
    manifest_media_type: str
    manifest_size: int
    config_digest: str
    config_size: int
    layer_digests: tuple[str, ...]
    layer_sizes: tuple[int, ...]
    platform: str  # "os/architecture" or "os/architecture/variant"
    created: str
    source: str  # skopeo source reference: "oci:LAYOUT_DIR:TAG" or "dir:LAYOUT_DIR/docker/TAG"

    @property
    def total_size(self) -> int:
        """Bytes of the manifest, the config and every layer."""
        return self.manifest_size + self.config_size + sum(self.layer_sizes)

    @property
    def blob_digests(self) -> tuple[str, ...]:
        """Digests of the config and the layers, the blobs the manifest references."""
        return (self.config_digest, *self.layer_digests)


@dataclass(frozen=True)
class IndexInfo:
    """Digests of one image index (or Docker manifest list) written by ``write_index``.

    The children carry the index's tag and source, because they have none of their own.
    """

    tag: str
    index_digest: str
    index_media_type: str
    index_size: int
    children: tuple[ImageInfo, ...]
    source: str  # skopeo source reference, as in ImageInfo

    @property
    def total_size(self) -> int:
        """Bytes of the index and of every child image with its config and layers."""
        return self.index_size + sum(child.total_size for child in self.children)

    @property
    def platforms(self) -> tuple[str, ...]:
        return tuple(child.platform for child in self.children)


def write_image(
    layout_dir: Path,
    tag: str,
    *,
    files: dict[str, bytes] | None = None,
    layers: int = 1,
    created: str | datetime = DEFAULT_CREATED,
    os: str = "linux",
    architecture: str = "amd64",
    variant: str | None = None,
    labels: dict[str, str] | None = None,
    docker_media_types: bool = False,
    seed: str = "",
) -> ImageInfo:
    """Write one image manifest with its config and layers, and tag it ``tag`` in the layout.

    Layer 0 contains ``files`` (path to content) and every layer contains a small
    file derived from ``seed``, the platform and the layer number. Writing an
    existing tag again replaces the image under that tag, in either format.
    """
    image = _write_image_blobs(
        layout_dir,
        tag,
        files=files,
        layers=layers,
        created=created,
        platform=(os, architecture, variant),
        labels=labels,
        docker_media_types=docker_media_types,
        seed=seed,
    )

    _remove_tag(layout_dir, tag)
    if docker_media_types:
        _write_docker_dir(layout_dir, tag, image.manifest_digest, [image])
    else:
        _tag_in_layout(
            layout_dir,
            tag,
            _descriptor(image.manifest_media_type, image.manifest_digest, image.manifest_size)
            | {"platform": _platform_object(os, architecture, variant)},
        )
    return image


def write_index(
    layout_dir: Path,
    tag: str,
    platforms: list[tuple[str, str, str | None]] | None = None,
    *,
    layers: int = 1,
    created: str | datetime = DEFAULT_CREATED,
    labels: dict[str, str] | None = None,
    docker_media_types: bool = False,
    seed: str = "",
) -> IndexInfo:
    """Write an image index with one child image per platform, and tag the index ``tag``.

    ``platforms`` contains (os, architecture, variant) triples and defaults to
    linux/amd64 and linux/arm64/v8. The children have different content, because
    the platform is part of it, and are not tagged themselves. With
    ``docker_media_types`` the index is a Docker manifest list of Docker manifests.
    """
    children = tuple(
        _write_image_blobs(
            layout_dir,
            tag,
            files=None,
            layers=layers,
            created=created,
            platform=platform,
            labels=labels,
            docker_media_types=docker_media_types,
            seed=seed,
        )
        for platform in (platforms or list(DEFAULT_PLATFORMS))
    )

    media_type = DOCKER_MANIFEST_LIST if docker_media_types else OCI_INDEX
    index = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": [_child_descriptor(child) for child in children],
    }
    index_digest, index_size = _write_blob(layout_dir, _json_bytes(index))

    _remove_tag(layout_dir, tag)
    if docker_media_types:
        _write_docker_dir(layout_dir, tag, index_digest, list(children))
    else:
        _tag_in_layout(layout_dir, tag, _descriptor(media_type, index_digest, index_size))
    return IndexInfo(
        tag=tag,
        index_digest=index_digest,
        index_media_type=media_type,
        index_size=index_size,
        children=children,
        source=source_reference(layout_dir, tag, docker_media_types=docker_media_types),
    )


def source_reference(layout_dir: Path, tag: str, *, docker_media_types: bool = False) -> str:
    """Return the skopeo source reference of an image written under ``tag``."""
    if docker_media_types:
        return f"dir:{layout_dir / DOCKER_DIR_NAME / tag}"
    return f"oci:{layout_dir}:{tag}"


def digest_of(data: bytes) -> str:
    """Return the ``sha256:`` digest of ``data``, as the registry computes it for a manifest."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def read_blob(layout_dir: Path, digest: str) -> bytes:
    algorithm, _, hex_digest = digest.partition(":")
    return (layout_dir / "blobs" / algorithm / hex_digest).read_bytes()


def layout_tags(layout_dir: Path) -> dict[str, str]:
    """Return the tags of a layout's ``index.json``, mapped to their manifest digests."""
    index = _read_layout_index(layout_dir)
    return {
        entry["annotations"][REF_NAME_ANNOTATION]: entry["digest"]
        for entry in index["manifests"]
        if REF_NAME_ANNOTATION in entry.get("annotations", {})
    }


def _write_image_blobs(
    layout_dir: Path,
    tag: str,
    *,
    files: dict[str, bytes] | None,
    layers: int,
    created: str | datetime,
    platform: tuple[str, str, str | None],
    labels: dict[str, str] | None,
    docker_media_types: bool,
    seed: str,
) -> ImageInfo:
    if layers < 1:
        raise ValueError(f"layers must be at least 1, got {layers}")

    created_text = _created_text(created)
    platform_text = "/".join(part for part in platform if part)

    layer_blobs = [
        _layer_bytes(_layer_files(index, seed, platform_text, files)) for index in range(layers)
    ]
    layer_descriptors = []
    diff_ids = []
    for compressed, diff_id in layer_blobs:
        digest, size = _write_blob(layout_dir, compressed)
        layer_media_type = DOCKER_LAYER_GZIP if docker_media_types else OCI_LAYER_GZIP
        layer_descriptors.append(_descriptor(layer_media_type, digest, size))
        diff_ids.append(diff_id)

    config = _config_object(created_text, platform, labels, diff_ids)
    config_digest, config_size = _write_blob(layout_dir, _json_bytes(config))

    manifest_media_type = DOCKER_MANIFEST if docker_media_types else OCI_MANIFEST
    config_media_type = DOCKER_CONFIG if docker_media_types else OCI_CONFIG
    manifest = {
        "schemaVersion": 2,
        "mediaType": manifest_media_type,
        "config": _descriptor(config_media_type, config_digest, config_size),
        "layers": layer_descriptors,
    }
    manifest_digest, manifest_size = _write_blob(layout_dir, _json_bytes(manifest))

    return ImageInfo(
        tag=tag,
        manifest_digest=manifest_digest,
        manifest_media_type=manifest_media_type,
        manifest_size=manifest_size,
        config_digest=config_digest,
        config_size=config_size,
        layer_digests=tuple(descriptor["digest"] for descriptor in layer_descriptors),
        layer_sizes=tuple(descriptor["size"] for descriptor in layer_descriptors),
        platform=platform_text,
        created=created_text,
        source=source_reference(layout_dir, tag, docker_media_types=docker_media_types),
    )


def _layer_files(
    index: int, seed: str, platform: str, files: dict[str, bytes] | None
) -> dict[str, bytes]:
    content = f"layer {index} of an image for {platform}, seed {seed!r}\n".encode()
    layer_files = {f"layers/{index}.txt": content}
    if index == 0 and files:
        layer_files.update(files)
    return layer_files


def _layer_bytes(files: dict[str, bytes]) -> tuple[bytes, str]:
    """Return a gzip-compressed tar of ``files`` and the digest of the uncompressed tar."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for directory in _parent_directories(files):
            archive.addfile(_tar_entry(directory, tarfile.DIRTYPE, 0o755, 0))
        for path in sorted(files):
            content = files[path]
            entry = _tar_entry(path, tarfile.REGTYPE, 0o644, len(content))
            archive.addfile(entry, io.BytesIO(content))

    tar_bytes = buffer.getvalue()
    return gzip.compress(tar_bytes, mtime=0), digest_of(tar_bytes)


def _parent_directories(files: dict[str, bytes]) -> list[str]:
    directories: set[str] = set()
    for path in files:
        directories.update(str(parent) for parent in PurePosixPath(path).parents)
    directories.discard(".")
    return sorted(directories)


def _tar_entry(name: str, kind: bytes, mode: int, size: int) -> tarfile.TarInfo:
    entry = tarfile.TarInfo(name)
    entry.type = kind
    entry.mode = mode
    entry.size = size
    entry.mtime = _TAR_MTIME
    entry.uid = entry.gid = 0
    entry.uname = entry.gname = ""
    return entry


def _config_object(
    created: str,
    platform: tuple[str, str, str | None],
    labels: dict[str, str] | None,
    diff_ids: list[str],
) -> dict[str, Any]:
    os_name, architecture, variant = platform
    config: dict[str, Any] = {
        "created": created,
        "architecture": architecture,
        "os": os_name,
    }
    if variant:
        config["variant"] = variant

    config["config"] = {"Labels": dict(labels)} if labels else {}
    config["rootfs"] = {"type": "layers", "diff_ids": diff_ids}
    config["history"] = [
        {"created": created, "created_by": f"tests.support.oci layer {index}"}
        for index in range(len(diff_ids))
    ]
    return config


def _child_descriptor(child: ImageInfo) -> dict[str, Any]:
    os_name, architecture, *rest = child.platform.split("/")
    variant = rest[0] if rest else None
    return _descriptor(child.manifest_media_type, child.manifest_digest, child.manifest_size) | {
        "platform": _platform_object(os_name, architecture, variant)
    }


def _platform_object(os_name: str, architecture: str, variant: str | None) -> dict[str, str]:
    platform = {"architecture": architecture, "os": os_name}
    if variant:
        platform["variant"] = variant
    return platform


def _descriptor(media_type: str, digest: str, size: int) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest, "size": size}


def _created_text(created: str | datetime) -> str:
    """Return ``created`` as RFC 3339 text in UTC. A naive datetime is taken as UTC."""
    if isinstance(created, str):
        return created
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return created.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _json_bytes(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _write_blob(layout_dir: Path, data: bytes) -> tuple[str, int]:
    """Store ``data`` under its digest unless present, and return (digest, size)."""
    digest = digest_of(data)
    path = layout_dir / "blobs" / "sha256" / _hex(digest)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return digest, len(data)


def _remove_tag(layout_dir: Path, tag: str) -> None:
    """Remove ``tag`` from ``index.json`` and its ``dir:`` copy, whichever exists."""
    shutil.rmtree(layout_dir / DOCKER_DIR_NAME / tag, ignore_errors=True)

    if (layout_dir / "index.json").exists():
        index = _read_layout_index(layout_dir)
        index["manifests"] = [
            entry
            for entry in index["manifests"]
            if entry.get("annotations", {}).get(REF_NAME_ANNOTATION) != tag
        ]
        (layout_dir / "index.json").write_bytes(_json_bytes(index))


def _tag_in_layout(layout_dir: Path, tag: str, descriptor: dict[str, Any]) -> None:
    """Add ``tag`` to the layout's ``index.json``, pointing at ``descriptor``.

    Call ``_remove_tag`` first: this appends and does not replace.
    """
    layout_dir.mkdir(parents=True, exist_ok=True)
    (layout_dir / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')

    index = _read_layout_index(layout_dir)
    index["manifests"].append(descriptor | {"annotations": {REF_NAME_ANNOTATION: tag}})

    (layout_dir / "index.json").write_bytes(_json_bytes(index))


def _write_docker_dir(layout_dir: Path, tag: str, top_digest: str, images: list[ImageInfo]) -> None:
    """Write ``LAYOUT_DIR/docker/TAG`` in skopeo's ``dir:`` format (version 1.1).

    ``manifest.json`` contains the top manifest (image or manifest list). Child
    manifests of a list are ``HEX.manifest.json`` and blobs are ``HEX``.
    """
    directory = layout_dir / DOCKER_DIR_NAME / tag
    directory.mkdir(parents=True)

    (directory / "version").write_text(_DIR_TRANSPORT_VERSION)
    (directory / "manifest.json").write_bytes(read_blob(layout_dir, top_digest))

    for image in images:
        if image.manifest_digest != top_digest:
            child_path = directory / f"{_hex(image.manifest_digest)}.manifest.json"
            child_path.write_bytes(read_blob(layout_dir, image.manifest_digest))
        for digest in image.blob_digests:
            (directory / _hex(digest)).write_bytes(read_blob(layout_dir, digest))


def _hex(digest: str) -> str:
    return digest.partition(":")[2]


def _read_layout_index(layout_dir: Path) -> dict[str, Any]:
    path = layout_dir / "index.json"
    if not path.exists():
        return {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
    index: dict[str, Any] = json.loads(path.read_text())
    return index
