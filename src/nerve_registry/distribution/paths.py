"""URL paths of the distribution API, with a last guard against values that change a path.

Callers validate names, tags and digests against their grammars first; the
guard here only keeps a missed check from turning into a request for another
path (``..``, ``%2f``, ``?``).
"""

from __future__ import annotations

import re

_SAFE_NAME = re.compile(r"[a-z0-9][a-z0-9._/-]*")
_SAFE_REFERENCE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._:-]*")


def repository_path(repository: str, *parts: str) -> str:
    """Return ``/v2/REPOSITORY/PART/...``; raise ValueError for an unsafe name or part."""
    if not _SAFE_NAME.fullmatch(repository) or ".." in repository or "//" in repository:
        raise ValueError(f"unsafe repository name {repository!r}")

    for part in parts:
        if not _SAFE_REFERENCE.fullmatch(part):
            raise ValueError(f"unsafe path segment {part!r}")

    return "/".join(["/v2", repository, *parts])
