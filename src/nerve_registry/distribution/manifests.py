"""Manifests: fetch, check, store and delete image manifests and indexes."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from nerve_registry.distribution.client import RegistryClient
from nerve_registry.distribution.mediatypes import (
    INDEX_TYPES,
    MANIFEST_ACCEPT,
    MANIFEST_TYPES,
    OCI_INDEX,
    OCI_MANIFEST,
    Descriptor,
    descriptor_list,
)
from nerve_registry.distribution.paths import repository_path
from nerve_registry.errors import RegistryError

logger = logging.getLogger(__name__)

# Distribution 2.8 refuses manifests above 4 MiB, so a larger body is not a manifest.
MAX_MANIFEST_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class Manifest:
    """A manifest as stored in the registry: its exact bytes, digest and parsed content.

    For an image manifest ``config`` and ``layers`` are set; for an index
    (OCI image index or Docker manifest list) ``children`` lists the
    manifests it references.
    """

    digest: str
    media_type: str
    raw: bytes
    config: Descriptor | None
    layers: tuple[Descriptor, ...]
    children: tuple[Descriptor, ...]
    annotations: dict[str, str]

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    @property
    def size(self) -> int:
        return len(self.raw)

    @property
    def blobs(self) -> tuple[Descriptor, ...]:
        """Config and layers: the blobs this manifest references directly."""
        return ((self.config,) if self.config else ()) + self.layers


@dataclass(frozen=True)
class ManifestHead:
    """Digest, media type and size of a manifest, from a HEAD request."""

    digest: str
    media_type: str
    size: int


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def parse_manifest(raw: bytes, content_type: str, digest: str) -> Manifest:
    """Parse manifest bytes; the media type comes from the body, else from ``content_type``.

    Raises RegistryError when the bytes are not a manifest of a supported type.
    """
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise RegistryError(
            f"The registry returned manifest {digest}, which is not JSON."
        ) from error

    if not isinstance(document, dict):
        raise RegistryError(f"The registry returned manifest {digest}, which is not a JSON object.")

    media_type = _media_type(document, content_type)
    if media_type not in MANIFEST_TYPES:
        raise RegistryError(
            f"Manifest {digest} has the unsupported media type {media_type!r}; supported are "
            "Docker schema 2 manifests and manifest lists, OCI manifests and OCI image indexes."
        )

    annotations = document.get("annotations")
    is_index = media_type in INDEX_TYPES
    return Manifest(
        digest=digest,
        media_type=media_type,
        raw=raw,
        config=None if is_index else _config(document, digest),
        layers=() if is_index else descriptor_list(document, "layers"),
        children=descriptor_list(document, "manifests") if is_index else (),
        annotations=dict(annotations) if isinstance(annotations, dict) else {},
    )


async def get_manifest(client: RegistryClient, repository: str, reference: str) -> Manifest | None:
    """Fetch a manifest by tag or digest; return None when the repository or reference is unknown.

    The body's digest is computed here and must match the digest asked for
    and the one the registry reports, so a corrupted manifest is never
    mistaken for the requested one.
    """
    path = repository_path(repository, "manifests", reference)
    response = await client.request("GET", path, headers={"Accept": MANIFEST_ACCEPT})
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        client.raise_for_status(response, f"fetch manifest {repository}:{reference}")

    raw = response.content
    if len(raw) > MAX_MANIFEST_BYTES:
        raise RegistryError(f"Manifest {repository}:{reference} is larger than 4 MiB.")

    digest = sha256_digest(raw)
    _check_digest(digest, reference, response.headers.get("docker-content-digest"), repository)
    return parse_manifest(raw, response.headers.get("content-type", ""), digest)


async def head_manifest(
    client: RegistryClient, repository: str, reference: str
) -> ManifestHead | None:
    """Resolve a tag or digest to the manifest's digest; None when it is unknown."""
    path = repository_path(repository, "manifests", reference)
    response = await client.request("HEAD", path, headers={"Accept": MANIFEST_ACCEPT})
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        client.raise_for_status(response, f"look up manifest {repository}:{reference}")

    digest = response.headers.get("docker-content-digest")
    if not digest:
        # Without the header the digest can only come from the body.
        manifest = await get_manifest(client, repository, reference)
        if manifest is None:
            return None
        return ManifestHead(manifest.digest, manifest.media_type, manifest.size)

    return ManifestHead(
        digest=digest,
        media_type=response.headers.get("content-type", "").split(";")[0].strip(),
        size=int(response.headers.get("content-length", "0") or 0),
    )


async def put_manifest(
    client: RegistryClient, repository: str, reference: str, raw: bytes, media_type: str
) -> str:
    """Store a manifest under a tag or digest and return its digest."""
    path = repository_path(repository, "manifests", reference)
    response = await client.request("PUT", path, headers={"Content-Type": media_type}, content=raw)
    if response.status_code not in (200, 201):
        client.raise_for_status(response, f"store manifest {repository}:{reference}")

    return response.headers.get("docker-content-digest") or sha256_digest(raw)


async def delete_manifest(client: RegistryClient, repository: str, digest: str) -> bool:
    """Delete a manifest by digest; return False when it was already gone.

    Distribution also removes every tag of the repository that points at this
    digest, so callers that must keep other tags delete by tag first.
    """
    path = repository_path(repository, "manifests", digest)
    response = await client.request("DELETE", path)
    if response.status_code == 404:
        return False
    if response.status_code not in (200, 202):
        client.raise_for_status(response, f"delete manifest {repository}@{digest}")

    logger.info("Deleted manifest %s@%s", repository, digest)
    return True


def _media_type(document: dict[str, Any], content_type: str) -> str:
    media_type = document.get("mediaType")
    if isinstance(media_type, str) and media_type:
        return media_type

    # OCI manifests may omit mediaType; the Content-Type header and the shape tell.
    header_type = content_type.split(";")[0].strip()
    if header_type in MANIFEST_TYPES:
        return header_type
    if "manifests" in document:
        return OCI_INDEX
    if "config" in document:
        return OCI_MANIFEST
    return header_type


def _config(document: dict[str, Any], digest: str) -> Descriptor:
    if "config" not in document:
        raise RegistryError(f"The registry returned image manifest {digest} without a config.")
    return Descriptor.from_json(document["config"], "config")


def _check_digest(computed: str, reference: str, reported: str | None, repository: str) -> None:
    if reference.startswith("sha256:") and reference != computed:
        raise RegistryError(
            f"The registry returned content for {repository}@{reference} whose digest is "
            f"{computed}; the stored manifest may be corrupted."
        )

    if reported and reported.startswith("sha256:") and reported != computed:
        raise RegistryError(
            f"The registry reported digest {reported} for {repository}:{reference}, but the "
            f"content has digest {computed}."
        )
