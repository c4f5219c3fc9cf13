"""Image listing: catalog pages with tag counts, and the details of every tag of an image."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from nerve_registry.distribution import catalog, tags
from nerve_registry.distribution.client import RegistryClient
from nerve_registry.domain.concurrency import map_bounded
from nerve_registry.domain.references import catalog_sort_key
from nerve_registry.errors import RegistryError

logger = logging.getLogger(__name__)

# Catalog names fetched per registry request when the caller sets no limit.
UNLIMITED_PAGE_SIZE = catalog.MAX_CATALOG_PAGE


@dataclass(frozen=True)
class ImageSummary:
    name: str
    tag_count: int


@dataclass(frozen=True)
class ImagePage:
    """Images in catalog order; ``next`` is the ``last`` value for the following page."""

    images: list[ImageSummary]
    next: str | None


async def list_images(
    client: RegistryClient,
    *,
    last: str | None,
    limit: int | None,
    concurrency: int,
) -> ImagePage:
    """List the images after ``last`` that have at least one tag, at most ``limit`` of them.

    The registry catalog is read page by page, never whole: each page requests
    ``limit + 1`` names, so one more image than requested shows whether a
    following page exists and ``next`` is null exactly on the last page.
    Repositories without tags are skipped, which may take further pages.
    """
    page_size = min(limit + 1, catalog.MAX_CATALOG_PAGE) if limit else UNLIMITED_PAGE_SIZE
    collected: list[ImageSummary] = []
    cursor = last or None

    while True:
        page = await catalog.list_catalog_page(client, n=page_size, last=cursor)
        if not page.repositories:
            return ImagePage(collected, next=None)

        counts = await map_bounded(
            lambda name: _tag_count(client, name), page.repositories, concurrency
        )

        for name, count in zip(page.repositories, counts, strict=True):
            if count == 0:
                continue
            if limit is not None and len(collected) == limit:
                return ImagePage(collected, next=collected[-1].name)
            collected.append(ImageSummary(name, count))

        if not page.has_more:
            return ImagePage(collected, next=None)

        cursor = _advance(cursor, page.repositories[-1])


async def _tag_count(client: RegistryClient, repository: str) -> int:
    found = await tags.list_tags(client, repository)
    return len(found) if found else 0


def _advance(cursor: str | None, last_name: str) -> str:
    """Return the next cursor; a catalog that does not move forward is an error of the registry."""
    if cursor is not None and catalog_sort_key(last_name) <= catalog_sort_key(cursor):
        raise RegistryError(
            f"The registry catalog did not advance past {cursor!r}; its pagination is broken."
        )
    return last_name
