"""Blobs: check, fetch, upload and delete configs and layers."""

from __future__ import annotations

import logging

import httpx

from nerve_registry.distribution.client import RegistryClient
from nerve_registry.distribution.manifests import sha256_digest
from nerve_registry.distribution.paths import repository_path
from nerve_registry.errors import RegistryError

logger = logging.getLogger(__name__)


async def head_blob(client: RegistryClient, repository: str, digest: str) -> int | None:
    """Return the size of a blob linked into the repository, or None when it is absent."""
    response = await client.request("HEAD", repository_path(repository, "blobs", digest))
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        client.raise_for_status(response, f"look up blob {digest} in {repository}")

    return int(response.headers.get("content-length", "0") or 0)


async def get_blob(
    client: RegistryClient, repository: str, digest: str, *, max_bytes: int
) -> bytes | None:
    """Fetch a small blob (a config) and verify its digest; None when it is absent."""
    response = await client.request("GET", repository_path(repository, "blobs", digest))
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        client.raise_for_status(response, f"fetch blob {digest} from {repository}")

    data = response.content
    if len(data) > max_bytes:
        raise RegistryError(f"Blob {digest} in {repository} is larger than {max_bytes} bytes.")
    if sha256_digest(data) != digest:
        raise RegistryError(
            f"Blob {digest} in {repository} does not match its digest; the stored blob may be "
            "corrupted."
        )

    return data


async def upload_blob(client: RegistryClient, repository: str, data: bytes) -> str:
    """Upload a small blob in one request unless the repository has it; return its digest.

    Distribution 2.8 ignores the digest on the initial POST, so the upload is
    the two-step form: POST opens an upload session, PUT with ``digest``
    completes it.
    """
    digest = sha256_digest(data)
    if await head_blob(client, repository, digest) is not None:
        return digest

    uploads = repository_path(repository, "blobs", "uploads") + "/"
    opened = await client.request("POST", uploads)
    if opened.status_code != 202 or "location" not in opened.headers:
        client.raise_for_status(opened, f"start a blob upload to {repository}")

    # The Location keeps the upload state in its query, so digest is added to it.
    location = httpx.URL(opened.headers["location"]).copy_merge_params({"digest": digest})
    target = location.raw_path.decode("ascii")
    completed = await client.request(
        "PUT", target, headers={"Content-Type": "application/octet-stream"}, content=data
    )
    if completed.status_code != 201:
        client.raise_for_status(completed, f"complete a blob upload to {repository}")

    logger.debug("Uploaded blob %s to %s", digest, repository)
    return digest


async def delete_blob(client: RegistryClient, repository: str, digest: str) -> bool:
    """Unlink a blob from the repository; return False when it was not linked."""
    response = await client.request("DELETE", repository_path(repository, "blobs", digest))
    if response.status_code == 404:
        return False
    if response.status_code != 202:
        client.raise_for_status(response, f"delete blob {digest} from {repository}")

    logger.info("Deleted blob %s from %s", digest, repository)
    return True
