"""Media types of manifests and the descriptors they contain."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nerve_registry.errors import RegistryError

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"

IMAGE_MANIFEST_TYPES = frozenset({DOCKER_MANIFEST, OCI_MANIFEST})
INDEX_TYPES = frozenset({DOCKER_MANIFEST_LIST, OCI_INDEX})
MANIFEST_TYPES = IMAGE_MANIFEST_TYPES | INDEX_TYPES

# Sent as Accept on every manifest request, so the registry never converts a
# manifest to another format (Distribution rewrites to schema 1 for clients
# that accept nothing newer).
MANIFEST_ACCEPT = ", ".join([OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST])


@dataclass(frozen=True)
class Platform:
    """Operating system and CPU architecture of an image, as in ``linux/arm64/v8``."""

    os: str
    architecture: str
    variant: str | None = None

    def __str__(self) -> str:
        text = f"{self.os}/{self.architecture}"
        return f"{text}/{self.variant}" if self.variant else text

    @property
    def is_unknown(self) -> bool:
        """True for ``unknown/unknown``, which build tools use for attestation manifests."""
        return self.os == "unknown" and self.architecture == "unknown"

    @classmethod
    def from_json(cls, value: object) -> Platform | None:
        if not isinstance(value, dict):
            return None

        os_name = value.get("os")
        architecture = value.get("architecture")
        variant = value.get("variant")
        if not isinstance(os_name, str) or not isinstance(architecture, str):
            return None

        return cls(os_name, architecture, variant if isinstance(variant, str) and variant else None)


@dataclass(frozen=True)
class Descriptor:
    """Reference to content by digest: a config, a layer or a child manifest."""

    media_type: str
    digest: str
    size: int
    platform: Platform | None = None
    annotations: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    urls: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, value: object, where: str) -> Descriptor:
        """Parse a descriptor; ``where`` names its place in the manifest for the error message."""
        if not isinstance(value, dict):
            raise RegistryError(f"The registry returned a manifest whose {where} is not an object.")

        media_type = value.get("mediaType", "")
        digest = value.get("digest")
        size = value.get("size")
        if not isinstance(digest, str) or not isinstance(size, int) or isinstance(size, bool):
            raise RegistryError(
                f"The registry returned a manifest whose {where} lacks a digest or a size."
            )

        annotations = value.get("annotations")
        urls = value.get("urls")
        return cls(
            media_type=media_type if isinstance(media_type, str) else "",
            digest=digest,
            size=size,
            platform=Platform.from_json(value.get("platform")),
            annotations=dict(annotations) if isinstance(annotations, dict) else {},
            urls=tuple(u for u in urls if isinstance(u, str)) if isinstance(urls, list) else (),
        )


def descriptor_list(document: dict[str, Any], key: str) -> tuple[Descriptor, ...]:
    """Parse ``document[key]`` as a list of descriptors (missing means empty)."""
    items = document.get(key, [])
    if items is None:
        return ()
    if not isinstance(items, list):
        raise RegistryError(f"The registry returned a manifest whose '{key}' is not a list.")

    return tuple(Descriptor.from_json(item, f"{key}[{index}]") for index, item in enumerate(items))
