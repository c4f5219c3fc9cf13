"""Registry tokens for the service's own registry calls, signed in-process and cached per scope."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from nerve_registry.security.keys import SigningKey
from nerve_registry.security.scopes import parse_scopes
from nerve_registry.security.tokens import issue_registry_token

logger = logging.getLogger(__name__)

SERVICE_SUBJECT = "nerve-registry-service"

# A cached token is replaced this many seconds before it expires (or after
# four fifths of its lifetime, if that comes first), so that a token never
# expires between the cache lookup and the registry's check.
EXPIRY_MARGIN_SECONDS = 30.0
# Scopes kept in the cache. Listing a large catalog touches one scope per
# repository; the least recently used tokens go first.
MAX_CACHED_SCOPES = 4096


@dataclass(frozen=True)
class _CachedToken:
    token: str
    # time.monotonic() after which the token is no longer handed out.
    renew_at: float


class ServiceTokenProvider:
    """Sign tokens that grant the service whatever scope its registry calls need.

    The service acts for administrators and for its own maintenance, so it is
    granted every requested action. The MS API checks the caller's rights
    before it calls the registry. Implements ``distribution.client.TokenProvider``.
    """

    def __init__(
        self,
        signing_key: SigningKey,
        *,
        service: str,
        issuer: str,
        lifetime_seconds: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._signing_key = signing_key
        self._service = service
        self._issuer = issuer
        self._lifetime = lifetime_seconds
        self._usable_for = max(
            1.0, min(lifetime_seconds - EXPIRY_MARGIN_SECONDS, lifetime_seconds * 0.8)
        )
        self._cache: OrderedDict[str, _CachedToken] = OrderedDict()

    async def token_for(self, scope: str) -> str:
        now = self._clock()
        cached = self._cache.get(scope)
        if cached is not None and now < cached.renew_at:
            self._cache.move_to_end(scope)
            return cached.token

        issued = issue_registry_token(
            self._signing_key,
            subject=SERVICE_SUBJECT,
            audience=self._service,
            issuer=self._issuer,
            access=parse_scopes(scope.split()),
            lifetime_seconds=self._lifetime,
        )
        self._cache[scope] = _CachedToken(issued.token, now + self._usable_for)
        self._cache.move_to_end(scope)
        while len(self._cache) > MAX_CACHED_SCOPES:
            self._cache.popitem(last=False)
        return issued.token

    def discard(self, scope: str) -> None:
        self._cache.pop(scope, None)

    @property
    def cached_scopes(self) -> int:
        return len(self._cache)
