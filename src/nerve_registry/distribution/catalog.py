"""Catalog: list the repositories of the registry page by page."""

from __future__ import annotations

from dataclasses import dataclass

from nerve_registry.distribution.client import RegistryClient
from nerve_registry.distribution.links import next_page_path
from nerve_registry.errors import RegistryError

# Distribution 2.8 rejects n above its catalog.maxentries (default 1000) with
# 400 PAGINATION_NUMBER_INVALID, so no page requests more.
MAX_CATALOG_PAGE = 1000


@dataclass(frozen=True)
class CatalogPage:
    """One page of repository names, in the registry's order."""

    repositories: list[str]
    has_more: bool


async def list_catalog_page(client: RegistryClient, *, n: int, last: str | None) -> CatalogPage:
    """Fetch at most ``n`` repository names that come after ``last`` in catalog order."""
    params: dict[str, str | int] = {"n": max(1, min(n, MAX_CATALOG_PAGE))}
    if last:
        params["last"] = last

    response = await client.request("GET", "/v2/_catalog", params=params)
    if response.status_code != 200:
        client.raise_for_status(response, "list the registry catalog")

    body = response.json()
    repositories = body.get("repositories") if isinstance(body, dict) else None
    if repositories is None:
        repositories = []
    if not isinstance(repositories, list) or not all(isinstance(r, str) for r in repositories):
        raise RegistryError("The registry returned a catalog that is not a list of names.")

    has_more = next_page_path(response.headers.get("link")) is not None
    return CatalogPage(repositories=repositories, has_more=has_more and bool(repositories))
