"""Tags: list the tags of a repository."""

from __future__ import annotations

from nerve_registry.distribution.client import RegistryClient, registry_error
from nerve_registry.distribution.links import next_page_path
from nerve_registry.distribution.paths import repository_path
from nerve_registry.errors import RegistryError

# Upper bound on tag list pages followed for one repository, so that a
# registry that keeps sending the same Link header cannot loop forever.
MAX_TAG_PAGES = 10_000


async def list_tags(client: RegistryClient, repository: str) -> list[str] | None:
    """Return every tag of a repository, or None when the registry does not know it.

    Distribution 2.8 returns all tags at once and ``"tags": null`` for a
    repository whose tags were all deleted (returned here as an empty list).
    Registries that paginate tag lists are followed through their Link headers.
    """
    path: str | None = repository_path(repository, "tags", "list")
    tags: list[str] = []

    for _ in range(MAX_TAG_PAGES):
        if path is None:
            return tags

        response = await client.request("GET", path)
        if response.status_code == 404:
            code, _message = registry_error(response)
            if code in (None, "NAME_UNKNOWN") and not tags:
                return None
        if response.status_code != 200:
            client.raise_for_status(response, f"list tags of {repository}")

        tags.extend(_tags_of(response.json(), repository))
        path = next_page_path(response.headers.get("link"))

    raise RegistryError(f"The tag list of {repository} did not end after {MAX_TAG_PAGES} pages.")


def _tags_of(body: object, repository: str) -> list[str]:
    if not isinstance(body, dict):
        raise RegistryError(
            f"The registry returned a tag list for {repository} that is not an object."
        )

    tags = body.get("tags")
    if tags is None:
        return []
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise RegistryError(
            f"The registry returned a tag list for {repository} that is not a list of strings."
        )

    return tags
