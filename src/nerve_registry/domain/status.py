"""Image status: is every manifest and blob that a deployment needs really in the registry?"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from nerve_registry.distribution import blobs, manifests, tags
from nerve_registry.distribution.client import RegistryClient
from nerve_registry.distribution.manifests import Manifest
from nerve_registry.distribution.mediatypes import Descriptor
from nerve_registry.domain.concurrency import Limiter
from nerve_registry.domain.references import ImageReference, parse_reference
from nerve_registry.errors import InvalidReferenceError

logger = logging.getLogger(__name__)

# At most this many missing items are named in one message; the rest are counted.
MAX_NAMED_MISSING = 5


class ImageState(enum.StrEnum):
    AVAILABLE = "available"
    MISSING = "missing"
    INCOMPLETE = "incomplete"
    INVALID = "invalid"


@dataclass(frozen=True)
class ImageStatus:
    """The status of one requested reference; ``image`` is the reference exactly as sent."""

    image: object
    status: ImageState
    digest: str | None
    message: str


@dataclass
class _Check:
    """State shared by the checks of one request: the limiter and blob lookups already made."""

    client: RegistryClient
    limiter: Limiter
    can_see: Callable[[str], bool]
    blob_lookups: dict[tuple[str, str], asyncio.Task[int | None]] = field(default_factory=dict)

    def blob_present(self, repository: str, digest: str) -> asyncio.Task[int | None]:
        """Return the one lookup task per blob, so shared layers are asked for once."""
        key = (repository, digest)
        task = self.blob_lookups.get(key)
        if task is None:
            task = asyncio.ensure_future(
                self.limiter.run(lambda: blobs.head_blob(self.client, repository, digest))
            )
            self.blob_lookups[key] = task
        return task


async def check_images(
    client: RegistryClient,
    references: list[object],
    *,
    concurrency: int,
    can_see: Callable[[str], bool] | None = None,
) -> list[ImageStatus]:
    """Check each reference and return one status per item, in request order.

    A reference that does not parse is ``invalid``, and one the registry does
    not have is ``missing``. A manifest with any absent blob or child manifest
    is ``incomplete``, anything else ``available``. Registry failures propagate.
    A repository for which ``can_see`` returns false is reported ``missing``
    without a registry call, with the message of an unknown image.
    """
    check = _Check(client=client, limiter=Limiter(concurrency), can_see=can_see or _everything)
    try:
        return list(
            await asyncio.gather(
                *(_check_one(check, index, item) for index, item in enumerate(references))
            )
        )
    finally:
        for task in check.blob_lookups.values():
            task.cancel()


async def _check_one(check: _Check, index: int, item: object) -> ImageStatus:
    try:
        reference = parse_reference(item, field=f"images[{index}]")
    except InvalidReferenceError as error:
        return ImageStatus(item, ImageState.INVALID, None, error.message)

    if not check.can_see(reference.repository):
        message = f"Image '{reference.repository}' not found in the registry."
        return ImageStatus(item, ImageState.MISSING, None, message)

    manifest = await check.limiter.run(
        lambda: manifests.get_manifest(check.client, reference.repository, reference.reference)
    )
    if manifest is None:
        message = await _missing_message(check, reference)
        return ImageStatus(item, ImageState.MISSING, None, message)

    absent = await _absent_content(check, reference.repository, manifest)
    note = await _tag_note(check, reference)
    if absent:
        message = _incomplete_message(absent) + note
        return ImageStatus(item, ImageState.INCOMPLETE, manifest.digest, message)

    message = _available_message(manifest) + note
    return ImageStatus(item, ImageState.AVAILABLE, manifest.digest, message)


async def _tag_note(check: _Check, reference: ImageReference) -> str:
    """Say so when a reference names both a tag and a digest and the tag points elsewhere.

    The digest decides what is checked, as it decides what a pull fetches.
    """
    if reference.tag is None or reference.digest is None:
        return ""

    tag = reference.tag
    head = await check.limiter.run(
        lambda: manifests.head_manifest(check.client, reference.repository, tag)
    )
    if head is None:
        return f" The digest was checked; tag '{tag}' does not exist."
    if head.digest != reference.digest:
        return f" The digest was checked; tag '{tag}' points at {head.digest}."
    return ""


async def _absent_content(check: _Check, repository: str, manifest: Manifest) -> list[str]:
    """Return a description of every blob and child manifest that the manifest needs but lacks."""
    if manifest.is_index:
        results = await asyncio.gather(
            *(_absent_child_content(check, repository, child) for child in manifest.children)
        )
        return [entry for result in results for entry in result]

    needed = [blob for blob in manifest.blobs if not blob.urls]
    sizes = await asyncio.gather(*(check.blob_present(repository, blob.digest) for blob in needed))
    return [
        f"{_blob_kind(manifest, blob)} {blob.digest}"
        for blob, size in zip(needed, sizes, strict=True)
        if size is None
    ]


async def _absent_child_content(check: _Check, repository: str, child: Descriptor) -> list[str]:
    child_manifest = await check.limiter.run(
        lambda: manifests.get_manifest(check.client, repository, child.digest)
    )
    platform = f" ({child.platform})" if child.platform else ""
    if child_manifest is None:
        return [f"child manifest {child.digest}{platform}"]

    absent = await _absent_content(check, repository, child_manifest)
    return [f"{entry} of child manifest {child.digest}{platform}" for entry in absent]


async def _missing_message(check: _Check, reference: ImageReference) -> str:
    found = await check.limiter.run(lambda: tags.list_tags(check.client, reference.repository))
    if found is None:
        return f"Image '{reference.repository}' not found in the registry."

    if reference.digest:
        return f"Manifest {reference.digest} not found in image '{reference.repository}'."

    return f"Tag '{reference.tag}' not found in image '{reference.repository}'."


def _everything(_repository: str) -> bool:
    return True


def _blob_kind(manifest: Manifest, blob: Descriptor) -> str:
    return "config" if manifest.config is not None and blob == manifest.config else "layer"


def _incomplete_message(absent: list[str]) -> str:
    named = ", ".join(absent[:MAX_NAMED_MISSING])
    more = len(absent) - MAX_NAMED_MISSING
    suffix = f" and {more} more" if more > 0 else ""
    return f"Missing from the registry: {named}{suffix}. Push the image again to repair it."


def _available_message(manifest: Manifest) -> str:
    if manifest.is_index:
        return f"Index and its {len(manifest.children)} child manifests are present with all blobs."
    layers = len(manifest.layers)
    return f"Manifest, config and {layers} layer{'s' if layers != 1 else ''} are present."
