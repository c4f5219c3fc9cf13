"""Tag details: digest, media type, size, created time and platforms of every tag of an image."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from nerve_registry.distribution import manifests, tags
from nerve_registry.distribution.client import RegistryClient
from nerve_registry.distribution.manifests import Manifest
from nerve_registry.domain.concurrency import Limiter, map_bounded
from nerve_registry.domain.configs import ConfigCache, read_config
from nerve_registry.errors import ImageNotFoundError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TagDetails:
    """One tag as the image-tags endpoint reports it.

    ``size`` counts the manifest, its config and its layers. For an index it
    also counts each child manifest with its config and layers, and a blob
    shared by several children only once.
    """

    tag: str
    digest: str
    media_type: str
    size: int
    created: datetime | None
    platforms: list[str]


@dataclass(frozen=True)
class _ImageFacts:
    blob_sizes: dict[str, int]
    created: datetime | None
    platforms: list[str]


async def describe_tags(
    client: RegistryClient, repository: str, *, cache: ConfigCache, concurrency: int
) -> list[TagDetails]:
    """Return the details of every tag of ``repository``.

    Raises ImageNotFoundError when the repository is unknown or has no tags.
    Tags come in lexical order, whatever order the registry lists them in.
    A tag deleted while the list is built is left out.
    """
    found = await tags.list_tags(client, repository)
    if not found:
        raise ImageNotFoundError(f"Image '{repository}' not found in the registry.")
    found.sort()

    limiter = Limiter(concurrency)
    details = await map_bounded(
        lambda tag: _describe_tag(client, repository, tag, cache, limiter), found, concurrency
    )
    return [detail for detail in details if detail is not None]


async def _describe_tag(
    client: RegistryClient, repository: str, tag: str, cache: ConfigCache, limiter: Limiter
) -> TagDetails | None:
    manifest = await _fetch_manifest(client, repository, tag, limiter)
    if manifest is None:
        logger.info("Tag %s:%s disappeared while its image was described", repository, tag)
        return None

    facts = await _image_facts(client, repository, manifest, cache, limiter)
    return TagDetails(
        tag=tag,
        digest=manifest.digest,
        media_type=manifest.media_type,
        size=manifest.size + sum(facts.blob_sizes.values()),
        created=facts.created,
        platforms=facts.platforms,
    )


async def _image_facts(
    client: RegistryClient,
    repository: str,
    manifest: Manifest,
    cache: ConfigCache,
    limiter: Limiter,
) -> _ImageFacts:
    """Collect blob sizes, created time and platforms of an image manifest or index."""
    if not manifest.is_index:
        return await _single_image_facts(client, repository, manifest, cache, limiter)

    # 1. Platforms come from the index itself, leaving out attestation entries.
    platforms = [
        str(child.platform)
        for child in manifest.children
        if child.platform is not None and not child.platform.is_unknown
    ]

    # 2. Each child manifest adds its own bytes, config and layers.
    blob_sizes: dict[str, int] = {}
    created: datetime | None = None
    child_manifests = await asyncio.gather(
        *(_fetch_manifest(client, repository, child.digest, limiter) for child in manifest.children)
    )
    for child_manifest in child_manifests:
        if child_manifest is None:
            continue

        blob_sizes[child_manifest.digest] = child_manifest.size
        if child_manifest.is_index:
            continue

        child_facts = await _single_image_facts(client, repository, child_manifest, cache, limiter)
        blob_sizes.update(child_facts.blob_sizes)

        # 3. The index is as new as its newest child.
        if child_facts.created and (created is None or child_facts.created > created):
            created = child_facts.created

    return _ImageFacts(blob_sizes=blob_sizes, created=created, platforms=platforms)


async def _fetch_manifest(
    client: RegistryClient, repository: str, reference: str, limiter: Limiter
) -> Manifest | None:
    return await limiter.run(lambda: manifests.get_manifest(client, repository, reference))


async def _single_image_facts(
    client: RegistryClient,
    repository: str,
    manifest: Manifest,
    cache: ConfigCache,
    limiter: Limiter,
) -> _ImageFacts:
    blob_sizes = {blob.digest: blob.size for blob in manifest.blobs}
    if manifest.config is None:
        return _ImageFacts(blob_sizes=blob_sizes, created=None, platforms=[])

    config_digest = manifest.config.digest
    summary = await limiter.run(lambda: read_config(client, repository, config_digest, cache))
    platforms = [str(summary.platform)] if summary.platform else []
    return _ImageFacts(blob_sizes=blob_sizes, created=summary.created, platforms=platforms)
