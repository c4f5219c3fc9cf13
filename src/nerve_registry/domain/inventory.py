"""Inventory of the whole registry: repositories, tags, manifests and the blobs they reference.

A prune plan needs all of it, because the registry stores each blob once for
all repositories: deleting an image frees only the blobs that no remaining
manifest, in any repository, references.

The distribution API lists tags but neither push times nor untagged
manifests. For the embedded registry a ``StorageView`` adds both from the
storage directory; for an external registry they stay unknown
(``revisions_known`` is False).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from nerve_registry.distribution import catalog, manifests, tags
from nerve_registry.distribution.client import RegistryClient
from nerve_registry.distribution.manifests import Manifest, ManifestHead
from nerve_registry.domain.concurrency import Limiter, map_bounded
from nerve_registry.domain.configs import ConfigCache, read_config
from nerve_registry.domain.references import catalog_sort_key
from nerve_registry.errors import RegistryError

logger = logging.getLogger(__name__)


class StorageView(Protocol):
    """Facts about the registry that only its storage records."""

    def tag_pushed_at(self, repository: str, tag: str) -> datetime | None: ...

    def revisions(self, repository: str) -> dict[str, datetime]: ...


@dataclass(frozen=True)
class ManifestNode:
    """One manifest: its own size, the blobs it references and, for an index, its children.

    ``blobs`` maps the digests of config and layers to their sizes; layers with
    external ``urls`` are left out, because the registry does not store them.
    ``created`` is the config's created time, for an index that of its newest child.
    """

    digest: str
    media_type: str
    size: int
    children: tuple[str, ...]
    blobs: dict[str, int]
    created: datetime | None


@dataclass
class RepositoryContent:
    """Tags of one repository and, when storage is readable, all of its manifests.

    ``revisions`` maps every manifest digest of the repository, tagged or not,
    to the time it was stored; None when unknown (external registry).
    """

    name: str
    tags: dict[str, str] = field(default_factory=dict)
    tag_pushed: dict[str, datetime | None] = field(default_factory=dict)
    revisions: dict[str, datetime] | None = None


@dataclass
class Inventory:
    repositories: dict[str, RepositoryContent]
    manifests: dict[str, ManifestNode]
    revisions_known: bool
    warnings: list[str] = field(default_factory=list)

    def reachable(self, roots: Iterable[str]) -> set[str]:
        """Return ``roots`` with the children of those that are indexes."""
        found: set[str] = set()
        pending = list(roots)
        while pending:
            digest = pending.pop()
            if digest in found:
                continue
            found.add(digest)
            node = self.manifests.get(digest)
            if node is not None:
                pending.extend(node.children)
        return found

    def untagged(self, repository: str) -> dict[str, datetime]:
        """Return the manifests of a repository that no tag reaches, with their stored times.

        Children of tagged indexes are reached through their index, so they
        are not untagged. Empty when the revisions are unknown.
        """
        content = self.repositories[repository]
        if content.revisions is None:
            return {}
        tagged = self.reachable(content.tags.values())
        return {
            digest: stored_at
            for digest, stored_at in content.revisions.items()
            if digest not in tagged
        }


@dataclass
class _Collector:
    client: RegistryClient
    storage: StorageView | None
    cache: ConfigCache
    limiter: Limiter
    manifests: dict[str, ManifestNode] = field(default_factory=dict)
    fetches: dict[str, asyncio.Task[ManifestNode | None]] = field(default_factory=dict)
    # Digests for which the registry returned 404.
    missing: set[str] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)

    def node(self, repository: str, digest: str) -> asyncio.Task[ManifestNode | None]:
        """Return the one fetch task per digest; a digest names the same content everywhere."""
        task = self.fetches.get(digest)
        if task is None:
            task = asyncio.ensure_future(self._fetch_node(repository, digest))
            self.fetches[digest] = task
        return task

    async def _fetch_node(self, repository: str, digest: str) -> ManifestNode | None:
        try:
            manifest = await self.limiter.run(
                lambda: manifests.get_manifest(self.client, repository, digest)
            )
        except RegistryError as error:
            logger.warning("Manifest %s@%s cannot be read: %s", repository, digest, error)
            self.warnings.append(
                f"Manifest {repository}@{digest} cannot be read ({error.message}); its blobs "
                "are not counted."
            )
            return None
        if manifest is None:
            self.missing.add(digest)
            return None

        children = tuple(child.digest for child in manifest.children)
        child_nodes = await asyncio.gather(*(self.node(repository, child) for child in children))
        created = await self._created(repository, manifest, child_nodes)

        node = ManifestNode(
            digest=manifest.digest,
            media_type=manifest.media_type,
            size=manifest.size,
            children=children,
            blobs={blob.digest: blob.size for blob in manifest.blobs if not blob.urls},
            created=created,
        )
        self.manifests[digest] = node
        return node

    async def _created(
        self,
        repository: str,
        manifest: Manifest,
        child_nodes: Iterable[ManifestNode | None],
    ) -> datetime | None:
        if manifest.is_index:
            times = [node.created for node in child_nodes if node and node.created]
            return max(times) if times else None
        if manifest.config is None:
            return None

        config_digest = manifest.config.digest
        summary = await self.limiter.run(
            lambda: read_config(self.client, repository, config_digest, self.cache)
        )
        return summary.created


async def build_inventory(
    client: RegistryClient,
    *,
    storage: StorageView | None,
    cache: ConfigCache,
    concurrency: int,
) -> Inventory:
    """Read every repository, tag and manifest of the registry.

    Tags and manifests that disappear while the inventory is built are left out.
    """
    names = await list_repositories(client)
    return await read_repositories(
        client, names, storage=storage, cache=cache, concurrency=concurrency
    )


async def read_repositories(
    client: RegistryClient,
    names: Iterable[str],
    *,
    storage: StorageView | None,
    cache: ConfigCache,
    concurrency: int,
) -> Inventory:
    """Read the tags and manifests of the named repositories only."""
    collector = _Collector(client, storage, cache, Limiter(concurrency))

    contents = await map_bounded(
        lambda name: _read_repository(collector, name), names, max(1, concurrency // 4)
    )
    await asyncio.gather(*collector.fetches.values())

    for content in contents:
        _drop_missing(content, collector.missing)

    return Inventory(
        repositories={content.name: content for content in contents},
        manifests=collector.manifests,
        revisions_known=storage is not None,
        warnings=collector.warnings,
    )


async def list_repositories(client: RegistryClient) -> list[str]:
    """Return every repository name of the catalog, tagged or not, in catalog order."""
    names: list[str] = []
    cursor: str | None = None
    while True:
        page = await catalog.list_catalog_page(client, n=catalog.MAX_CATALOG_PAGE, last=cursor)
        names.extend(page.repositories)
        if not page.has_more or not page.repositories:
            return names

        last_name = page.repositories[-1]
        if cursor is not None and catalog_sort_key(last_name) <= catalog_sort_key(cursor):
            raise RegistryError(
                f"The registry catalog did not advance past {cursor!r}; its pagination is broken."
            )
        cursor = last_name


async def _read_repository(collector: _Collector, name: str) -> RepositoryContent:
    content = RepositoryContent(name=name)
    found = await collector.limiter.run(lambda: tags.list_tags(collector.client, name)) or []

    # 1. Resolve each tag to the digest it points at.
    heads = await asyncio.gather(*(_head(collector, name, tag) for tag in found))
    for tag, head in zip(found, heads, strict=True):
        if head is not None:
            content.tags[tag] = head.digest

    # 2. Push times and untagged manifests come from storage, when readable.
    if collector.storage is not None:
        storage = collector.storage
        content.revisions = await asyncio.to_thread(storage.revisions, name)
        for tag in content.tags:
            content.tag_pushed[tag] = await asyncio.to_thread(storage.tag_pushed_at, name, tag)

    # 3. Fetch every manifest the repository has, with the children of indexes.
    digests = set(content.tags.values()) | set(content.revisions or {})
    await asyncio.gather(*(collector.node(name, digest) for digest in digests))
    return content


async def _head(collector: _Collector, name: str, tag: str) -> ManifestHead | None:
    return await collector.limiter.run(lambda: manifests.head_manifest(collector.client, name, tag))


def _drop_missing(content: RepositoryContent, missing: set[str]) -> None:
    """Forget revisions whose manifest the registry no longer returns (garbage-collected data)."""
    if content.revisions is None:
        return
    for digest in [digest for digest in content.revisions if digest in missing]:
        logger.debug("Revision %s@%s has no manifest data; ignored", content.name, digest)
        del content.revisions[digest]
