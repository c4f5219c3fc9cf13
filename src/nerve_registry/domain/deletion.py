"""Tag deletion that removes exactly one tag, even when other tags share its manifest.

The distribution API has no call that removes a single tag. Distribution 2.8
rejects ``DELETE /v2/NAME/manifests/TAG``, and ``DELETE`` by digest removes the
manifest together with every tag that points at it. So one tag is deleted in
two moves: the tag is first pointed at a placeholder manifest that nothing
else uses, and then the placeholder is deleted by digest, which takes only
that tag with it.

After the tag is gone, the manifest it pointed at is deleted as well, unless
another tag of the repository still needs it directly or as the child of a
tagged index. Garbage collection can then free its blobs.
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass

from nerve_registry.distribution import blobs, manifests, tags
from nerve_registry.distribution.client import RegistryClient
from nerve_registry.distribution.manifests import ManifestHead
from nerve_registry.distribution.mediatypes import INDEX_TYPES, OCI_EMPTY, OCI_MANIFEST
from nerve_registry.domain.concurrency import map_bounded
from nerve_registry.errors import ConflictError, ImageNotFoundError, TagNotFoundError

logger = logging.getLogger(__name__)

# The OCI empty descriptor's content: the config of every placeholder manifest.
EMPTY_CONFIG = b"{}"
PLACEHOLDER_ANNOTATION = "io.nerve-registry.placeholder"


@dataclass(frozen=True)
class DeletedTag:
    """Outcome of one tag deletion.

    ``manifest_deleted`` is true when the manifest was deleted too because no
    other tag needed it; ``deleted_children`` lists index children deleted
    with it.
    """

    image: str
    tag: str
    digest: str
    manifest_deleted: bool
    deleted_children: tuple[str, ...] = ()


async def delete_tag(
    client: RegistryClient,
    repository: str,
    tag: str,
    *,
    concurrency: int,
    expected_digest: str | None = None,
) -> DeletedTag:
    """Delete one tag and return the digest it pointed at.

    With ``expected_digest`` the tag is deleted only if it still points at that
    digest; otherwise ConflictError is raised and nothing changes.
    Raises ImageNotFoundError or TagNotFoundError for unknown names.
    """
    # 1. Resolve the tag to the digest it points at now.
    head = await _resolve_tag(client, repository, tag)
    if expected_digest is not None and head.digest != expected_digest:
        raise ConflictError(
            f"Tag '{repository}:{tag}' now points at {head.digest}, not at {expected_digest}; "
            "it was not deleted.",
            error_code="TAG_CHANGED",
        )

    # 2. Find what the other tags of the repository still need.
    still_needed = await _digests_needed_by_other_tags(client, repository, tag, concurrency)

    # 3. Point the tag at a placeholder that no other tag uses, then delete the
    #    placeholder by digest. Only this tag goes with it.
    await _retag_and_delete_placeholder(client, repository, tag, head.digest)
    logger.info("Deleted tag %s:%s (was %s)", repository, tag, head.digest)

    # 4. Delete the manifest, and an index's children, when nothing else needs them.
    if head.digest in still_needed:
        return DeletedTag(repository, tag, head.digest, manifest_deleted=False)

    children = await _children_of(client, repository, head)
    await manifests.delete_manifest(client, repository, head.digest)
    deleted_children = []
    for child in children:
        if child not in still_needed and await manifests.delete_manifest(client, repository, child):
            deleted_children.append(child)

    return DeletedTag(
        repository,
        tag,
        head.digest,
        manifest_deleted=True,
        deleted_children=tuple(deleted_children),
    )


async def _resolve_tag(client: RegistryClient, repository: str, tag: str) -> ManifestHead:
    head = await manifests.head_manifest(client, repository, tag)
    if head is not None:
        return head

    if await tags.list_tags(client, repository) is None:
        raise ImageNotFoundError(f"Image '{repository}' not found in the registry.")
    raise TagNotFoundError(f"Tag '{tag}' not found in image '{repository}'.")


async def _digests_needed_by_other_tags(
    client: RegistryClient, repository: str, tag: str, concurrency: int
) -> set[str]:
    """Return the digests of the other tags' manifests and of their indexes' children."""
    other_tags = [other for other in await tags.list_tags(client, repository) or [] if other != tag]
    heads = await map_bounded(
        lambda other: manifests.head_manifest(client, repository, other), other_tags, concurrency
    )

    needed: set[str] = set()
    for head in heads:
        if head is None:
            continue
        needed.add(head.digest)
        needed.update(await _children_of(client, repository, head))

    return needed


async def _children_of(client: RegistryClient, repository: str, head: ManifestHead) -> list[str]:
    if head.media_type and head.media_type not in INDEX_TYPES:
        return []

    manifest = await manifests.get_manifest(client, repository, head.digest)
    if manifest is None or not manifest.is_index:
        return []
    return [child.digest for child in manifest.children]


async def _retag_and_delete_placeholder(
    client: RegistryClient, repository: str, tag: str, digest: str
) -> None:
    # The tag may have moved since step 1; overwriting a fresh push would lose it.
    # NOTE: a push to this tag between this check and the PUT below is still
    # overwritten; the registry API offers no compare-and-swap on tags.
    current = await manifests.head_manifest(client, repository, tag)
    if current is None or current.digest != digest:
        raise ConflictError(
            f"Tag '{repository}:{tag}' changed while it was being deleted; it was not deleted.",
            error_code="TAG_CHANGED",
        )

    placeholder = await _placeholder_manifest(client, repository)
    placeholder_digest = await manifests.put_manifest(
        client, repository, tag, placeholder, OCI_MANIFEST
    )
    await manifests.delete_manifest(client, repository, placeholder_digest)


async def _placeholder_manifest(client: RegistryClient, repository: str) -> bytes:
    """Build a manifest that is unique to this deletion, with the empty config blob uploaded."""
    config_digest = await blobs.upload_blob(client, repository, EMPTY_CONFIG)
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_EMPTY, "digest": config_digest, "size": len(EMPTY_CONFIG)},
        "layers": [],
        "annotations": {PLACEHOLDER_ANNOTATION: secrets.token_hex(16)},
    }
    return json.dumps(document, separators=(",", ":")).encode()
