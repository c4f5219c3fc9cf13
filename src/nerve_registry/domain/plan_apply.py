"""Carry out the entries of a prune plan, each only if the registry still matches the plan.

Tags are deleted through the distribution API with ``delete_tag`` and the
digest from the plan, so a tag that was pushed again since the plan is
skipped. Untagged manifests and empty repositories are removed in storage,
which the caller must keep read-only for the whole step, so that no push can
tag a manifest between the check and the removal.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from nerve_registry.distribution.client import RegistryClient
from nerve_registry.domain import deletion
from nerve_registry.domain.configs import ConfigCache
from nerve_registry.domain.inventory import Inventory, StorageView, read_repositories
from nerve_registry.errors import (
    ConflictError,
    ImageNotFoundError,
    RegistryError,
    TagNotFoundError,
)

logger = logging.getLogger(__name__)

DELETED = "deleted"
SKIPPED = "skipped"
FAILED = "failed"


class StorageEditor(StorageView, Protocol):
    """Storage operations for untagged cleanup; valid only while the registry is read-only."""

    def has_tags(self, repository: str) -> bool: ...

    def remove_revision(self, repository: str, digest: str) -> bool: ...

    def remove_repository(self, repository: str) -> bool: ...


@dataclass(frozen=True)
class EntryResult:
    """Outcome of one plan entry: ``deleted``, ``skipped`` (the registry changed) or ``failed``."""

    status: str
    message: str


async def delete_planned_tag(
    client: RegistryClient, repository: str, tag: str, digest: str, *, concurrency: int
) -> EntryResult:
    """Delete the tag if it still points at ``digest``.

    RegistryUnavailableError propagates, because the entries after it would
    fail the same way.
    """
    try:
        result = await deletion.delete_tag(
            client, repository, tag, concurrency=concurrency, expected_digest=digest
        )
    except ConflictError as error:
        logger.info("Skipped planned deletion of %s:%s: %s", repository, tag, error.message)
        return EntryResult(SKIPPED, error.message)
    except (TagNotFoundError, ImageNotFoundError) as error:
        logger.info("Skipped planned deletion of %s:%s: %s", repository, tag, error.message)
        return EntryResult(SKIPPED, f"The tag no longer exists. {error.message}")
    except RegistryError as error:
        logger.warning("Planned deletion of %s:%s failed: %s", repository, tag, error.message)
        return EntryResult(FAILED, error.message)

    detail = "its manifest was deleted too" if result.manifest_deleted else "its manifest stays"
    return EntryResult(DELETED, f"Deleted {repository}:{tag} ({digest}); {detail}.")


async def read_untagged_state(
    client: RegistryClient,
    storage: StorageEditor,
    repositories: Sequence[str],
    *,
    cache: ConfigCache,
    concurrency: int,
) -> Inventory:
    """Read the current tags and manifests of the repositories that untagged entries name."""
    return await read_repositories(
        client, sorted(set(repositories)), storage=storage, cache=cache, concurrency=concurrency
    )


def remove_planned_manifest(
    state: Inventory,
    storage: StorageEditor,
    repository: str,
    digest: str,
    *,
    planned: set[str],
) -> EntryResult:
    """Remove an untagged manifest unless a tag or a manifest that stays now needs it.

    ``planned`` contains every digest that the plan removes from this repository.
    """
    content = state.repositories.get(repository)
    if content is None or content.revisions is None or digest not in content.revisions:
        return EntryResult(SKIPPED, f"Manifest {repository}@{digest} no longer exists.")

    if digest in state.reachable(content.tags.values()):
        return EntryResult(
            SKIPPED,
            f"Manifest {repository}@{digest} is now tagged, or is a child of a tagged index.",
        )

    staying = set(content.revisions) - planned
    for other in staying:
        node = state.manifests.get(other)
        if node is not None and digest in node.children:
            return EntryResult(
                SKIPPED, f"Manifest {repository}@{digest} is a child of {other}, which stays."
            )

    if not storage.remove_revision(repository, digest):
        return EntryResult(SKIPPED, f"Manifest {repository}@{digest} no longer exists.")
    return EntryResult(DELETED, f"Removed untagged manifest {repository}@{digest}.")


def remove_planned_repository(storage: StorageEditor, repository: str) -> EntryResult:
    """Remove a repository's directories unless it has tags or manifests again."""
    if storage.has_tags(repository) or storage.revisions(repository):
        return EntryResult(
            SKIPPED, f"Repository {repository} has tags or manifests again; it stays."
        )
    if not storage.remove_repository(repository):
        return EntryResult(SKIPPED, f"Repository {repository} no longer exists.")
    return EntryResult(DELETED, f"Removed repository {repository} from the catalog.")
