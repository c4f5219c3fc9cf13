"""Link headers of paginated registry responses (RFC 8288, ``rel="next"`` only)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_NEXT_LINK = re.compile(r"<([^>]*)>\s*;[^,]*rel=\"?next\"?", re.IGNORECASE)


def next_page_path(link_header: str | None) -> str | None:
    """Return the path and query of the ``rel="next"`` link, or None when there is none.

    Only the path and query are kept: the next page is always fetched from the
    same registry, whatever host the header names.
    """
    if not link_header:
        return None

    match = _NEXT_LINK.search(link_header)
    if match is None:
        return None

    target = urlsplit(match.group(1))
    if not target.path.startswith("/v2/"):
        return None

    return f"{target.path}?{target.query}" if target.query else target.path
