"""Direct access to the embedded registry's filesystem storage (CNCF Distribution 2.8 layout).

The distribution API has no push times, no list of untagged manifests and no
way to remove a repository, so cleanup reads and changes the storage itself:

    ROOT/docker/registry/v2/
        blobs/sha256/AB/ABCDEF.../data               content of every blob and manifest, once
        repositories/NAME/
            _layers/sha256/HEX/link                  blobs linked into the repository
            _manifests/revisions/sha256/HEX/link     manifests of the repository
            _manifests/tags/TAG/current/link         digest the tag points at
            _uploads/                                upload sessions

The catalog lists a repository while its directory with ``_layers`` exists.
Reading is safe while the registry runs. Every method that changes storage
must only run while the registry is stopped or in read-only mode, because
Distribution does not expect anyone else to change its files.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import stat
from datetime import UTC, datetime
from pathlib import Path

from nerve_registry.domain.references import validate_repository

logger = logging.getLogger(__name__)

V2_DIR = Path("docker") / "registry" / "v2"
_DIGEST_HEX_RE = re.compile(r"[a-f0-9]{64}")
# The directories Distribution keeps inside a repository directory.
_REPOSITORY_PARTS = ("_layers", "_manifests", "_uploads")


class RegistryStorage:
    """The storage directory of the embedded registry."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def repositories_dir(self) -> Path:
        return self.root / V2_DIR / "repositories"

    @property
    def blobs_dir(self) -> Path:
        return self.root / V2_DIR / "blobs"

    def tag_pushed_at(self, repository: str, tag: str) -> datetime | None:
        """Return when the tag was last pushed: the modification time of its current link."""
        link = self._repository_dir(repository) / "_manifests" / "tags" / tag / "current" / "link"
        return _modified_at(link)

    def revisions(self, repository: str) -> dict[str, datetime]:
        """Return the digests of the repository's manifests, each with the time it was stored."""
        revisions_dir = self._repository_dir(repository) / "_manifests" / "revisions" / "sha256"
        try:
            entries = list(os.scandir(revisions_dir))
        except FileNotFoundError:
            return {}

        found: dict[str, datetime] = {}
        for entry in entries:
            if not _DIGEST_HEX_RE.fullmatch(entry.name):
                continue
            stored_at = _modified_at(Path(entry.path) / "link")
            if stored_at is not None:
                found[f"sha256:{entry.name}"] = stored_at
        return found

    def has_tags(self, repository: str) -> bool:
        tags_dir = self._repository_dir(repository) / "_manifests" / "tags"
        try:
            return any(
                (Path(entry.path) / "current" / "link").is_file() for entry in os.scandir(tags_dir)
            )
        except FileNotFoundError:
            return False

    def remove_revision(self, repository: str, digest: str) -> bool:
        """Remove one manifest from a repository, as a DELETE by digest does; False if absent.

        Call only in maintenance, after checking that no tag points at the digest.
        The manifest's blob stays until garbage collection.
        """
        hex_digest = _hex_of(digest)
        revision_dir = self._repository_dir(repository) / "_manifests" / "revisions" / "sha256"
        link = revision_dir / hex_digest / "link"
        if not link.is_file():
            return False

        link.unlink()
        shutil.rmtree(revision_dir / hex_digest, ignore_errors=True)
        logger.info("Removed untagged manifest %s@%s from storage", repository, digest)
        return True

    def remove_repository(self, repository: str) -> bool:
        """Remove a repository's directories so that it leaves the catalog; False if absent.

        Call only in maintenance, after checking that it has no tags and no manifests.
        Repositories nested below it (``NAME/sub``) stay, and so do the blobs,
        which garbage collection frees when nothing else uses them.
        """
        directory = self._repository_dir(repository)
        parts = [directory / part for part in _REPOSITORY_PARTS if (directory / part).exists()]
        if not parts:
            return False

        for part in parts:
            shutil.rmtree(part)
        self._remove_empty_parents(directory)
        logger.info("Removed repository %s from storage", repository)
        return True

    def size(self) -> int:
        """Return the total size in bytes of the regular files below the storage root."""
        total = 0
        for directory, _subdirectories, files in os.walk(self.root):
            for name in files:
                try:
                    status = os.lstat(os.path.join(directory, name))
                except FileNotFoundError:
                    continue
                if stat.S_ISREG(status.st_mode):
                    total += status.st_size
        return total

    def _repository_dir(self, repository: str) -> Path:
        # The name grammar allows no '..' and no leading '/', so the path stays below the root.
        return self.repositories_dir / validate_repository(repository, "repository")

    def _remove_empty_parents(self, directory: Path) -> None:
        """Remove ``directory`` and its parents up to the repositories root while they are empty."""
        current = directory
        while current != self.repositories_dir and self.repositories_dir in current.parents:
            try:
                current.rmdir()
            except OSError:
                return
            current = current.parent


def _hex_of(digest: str) -> str:
    algorithm, _, hex_digest = digest.partition(":")
    if algorithm != "sha256" or not _DIGEST_HEX_RE.fullmatch(hex_digest):
        raise ValueError(f"not a sha256 digest: {digest!r}")
    return hex_digest


def _modified_at(path: Path) -> datetime | None:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except FileNotFoundError:
        return None
