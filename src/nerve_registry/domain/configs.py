"""Image configs: the created time and platform that an image's config blob records."""

from __future__ import annotations

import json
import logging
import re
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime

from nerve_registry.distribution import blobs
from nerve_registry.distribution.client import RegistryClient
from nerve_registry.distribution.mediatypes import Platform

logger = logging.getLogger(__name__)

# Configs larger than this are not read; real image configs are a few KiB.
MAX_CONFIG_BYTES = 4 * 1024 * 1024

_FRACTION = re.compile(r"(\.\d{1,6})\d*")


@dataclass(frozen=True)
class ConfigSummary:
    created: datetime | None
    platform: Platform | None


class ConfigCache:
    """Least-recently-used cache of config summaries by digest.

    A digest names immutable content, so an entry never goes stale; the cache
    only bounds how many are kept.
    """

    def __init__(self, max_entries: int = 4096) -> None:
        self._entries: OrderedDict[str, ConfigSummary] = OrderedDict()
        self._max_entries = max_entries

    def get(self, digest: str) -> ConfigSummary | None:
        summary = self._entries.get(digest)
        if summary is not None:
            self._entries.move_to_end(digest)
        return summary

    def put(self, digest: str, summary: ConfigSummary) -> None:
        self._entries[digest] = summary
        self._entries.move_to_end(digest)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)


async def read_config(
    client: RegistryClient, repository: str, digest: str, cache: ConfigCache
) -> ConfigSummary:
    """Return the created time and platform recorded in a config blob.

    A config that is absent or not JSON gives an empty summary instead of an
    error, because listing tags must not fail on one damaged image.
    """
    cached = cache.get(digest)
    if cached is not None:
        return cached

    data = await blobs.get_blob(client, repository, digest, max_bytes=MAX_CONFIG_BYTES)
    if data is None:
        logger.warning("Config %s of %s is missing from the registry", digest, repository)
        return ConfigSummary(created=None, platform=None)

    summary = parse_config(data)
    cache.put(digest, summary)
    return summary


def parse_config(data: bytes) -> ConfigSummary:
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return ConfigSummary(created=None, platform=None)

    if not isinstance(document, dict):
        return ConfigSummary(created=None, platform=None)

    return ConfigSummary(
        created=parse_timestamp(document.get("created")),
        platform=Platform.from_json(document),
    )


def parse_timestamp(value: object) -> datetime | None:
    """Parse an RFC 3339 time as image configs write it (nanoseconds allowed) into UTC."""
    if not isinstance(value, str) or not value:
        return None

    text = _FRACTION.sub(lambda match: match.group(1), value.strip())
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None

    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_timestamp(value: datetime | None) -> str | None:
    """Format a UTC time as RFC 3339 with a ``Z`` suffix, to the second."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
