"""Image listing: catalog pages with tag counts, and the details of every tag of an image."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
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


@dataclass(frozen=True)
class CatalogSelection:
    """The repositories that a listing may return.

    Either every repository (``complete``), or those whose names start with one
    of ``prefixes`` (each ending in ``/``) plus the repositories named in ``names``.
    """

    prefixes: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    complete: bool = False

    @classmethod
    def everything(cls) -> CatalogSelection:
        return cls(complete=True)

    def contains(self, repository: str) -> bool:
        if self.complete or repository in self.names:
            return True
        return any(repository.startswith(prefix) for prefix in self.prefixes)


async def list_images(
    client: RegistryClient,
    *,
    last: str | None,
    limit: int | None,
    concurrency: int,
    selection: CatalogSelection | None = None,
) -> ImagePage:
    """List the selected images after ``last`` that have a tag, at most ``limit`` of them.

    The registry catalog is read page by page, never whole: each page requests
    ``limit + 1`` names, so one more image than requested shows whether a
    following page exists and ``next`` is null exactly on the last page.
    Repositories without tags are skipped, which may take further pages.

    A ``selection`` other than everything reads only the catalog ranges of its
    prefixes (the catalog keeps the names under one prefix together) and looks
    up its single names directly. So the cost of a page grows with what the
    caller may see, not with the size of the registry.
    """
    page_size = min(limit + 1, catalog.MAX_CATALOG_PAGE) if limit else UNLIMITED_PAGE_SIZE
    selection = selection or CatalogSelection.everything()
    sources = _name_sources(client, selection, last or None, page_size)

    merged = _merge_in_catalog_order(sources)
    batches = _batches(merged, page_size)
    collected: list[ImageSummary] = []
    try:
        async for batch in batches:
            counts = await map_bounded(lambda name: _tag_count(client, name), batch, concurrency)

            for name, count in zip(batch, counts, strict=True):
                if count == 0:
                    continue
                if limit is not None and len(collected) == limit:
                    return ImagePage(collected, next=collected[-1].name)
                collected.append(ImageSummary(name, count))
    finally:
        await batches.aclose()
        await merged.aclose()
        for source in sources:
            await source.aclose()

    return ImagePage(collected, next=None)


def _name_sources(
    client: RegistryClient, selection: CatalogSelection, last: str | None, page_size: int
) -> list[AsyncGenerator[str, None]]:
    """Return one generator of names in catalog order per part of ``selection``."""
    if selection.complete:
        return [_catalog_names(client, last, None, page_size)]

    sources = [
        _catalog_names(client, _later(last, prefix.rstrip("/")), prefix, page_size)
        for prefix in selection.prefixes
    ]
    single_names = sorted(
        (name for name in selection.names if last is None or _after(name, last)),
        key=catalog_sort_key,
    )
    if single_names:
        sources.append(_listed_names(single_names))
    return sources


async def _catalog_names(
    client: RegistryClient, start_after: str | None, prefix: str | None, page_size: int
) -> AsyncGenerator[str, None]:
    """Yield catalog names after ``start_after``; with ``prefix``, only names that start with it.

    The catalog keeps the names with one prefix together, so the first name
    without it ends the run.
    """
    cursor = start_after
    while True:
        page = await catalog.list_catalog_page(client, n=page_size, last=cursor)
        for name in page.repositories:
            if prefix is not None and not name.startswith(prefix):
                return
            yield name

        if not page.has_more or not page.repositories:
            return
        cursor = _advance(cursor, page.repositories[-1])


async def _listed_names(names: list[str]) -> AsyncGenerator[str, None]:
    for name in names:
        yield name


async def _merge_in_catalog_order(
    sources: list[AsyncGenerator[str, None]],
) -> AsyncGenerator[str, None]:
    """Merge generators that each yield names in catalog order, dropping duplicates."""
    heads: dict[int, str] = {}
    for index, source in enumerate(sources):
        first = await anext(source, None)
        if first is not None:
            heads[index] = first

    previous: str | None = None
    while heads:
        index = min(heads, key=lambda key: catalog_sort_key(heads[key]))
        name = heads[index]
        if name != previous:
            yield name
            previous = name

        following = await anext(sources[index], None)
        if following is None:
            del heads[index]
        else:
            heads[index] = following


async def _batches(names: AsyncGenerator[str, None], size: int) -> AsyncGenerator[list[str], None]:
    batch: list[str] = []
    async for name in names:
        batch.append(name)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _after(name: str, cursor: str) -> bool:
    return catalog_sort_key(name) > catalog_sort_key(cursor)


def _later(first: str | None, second: str) -> str:
    """Return the later of two catalog positions."""
    if first is None or _after(second, first):
        return second
    return first


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
