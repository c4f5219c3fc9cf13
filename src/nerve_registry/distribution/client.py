"""Pooled async HTTP client for one registry's ``/v2/`` API.

This module is the only place where httpx exceptions are caught: transport
failures become RegistryUnavailableError, unexpected statuses become
RegistryError with the registry's own error code. The per-noun modules
(``catalog``, ``tags``, ``manifests``, ``blobs``) build requests on top of it.

Retry policy, for idempotent requests (GET and HEAD) only:

    what happened                           what the client does
    connect error, read timeout, reset      retry after 0.2 s, then 0.5 s, then fail with 503
    status 429, 502, 503, 504               retry after 0.2 s, then 0.5 s, then return it
    status 401 with a Bearer challenge      fetch a new token for the challenge's scope, repeat once
    any other status                        return it; the caller decides what it means

Requests that change state (PUT, POST, DELETE, PATCH) are never repeated,
because the first attempt may have taken effect. A 401 is the exception: the
registry rejected the request before acting on it.

With a token provider, every request carries a token for the scope it needs
(``auth.scope_for_request``). The provider caches tokens per scope, because
one token cannot serve every request once scopes differ.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Mapping
from typing import Protocol
from urllib.parse import urlsplit

import httpx

from nerve_registry.distribution.auth import parse_bearer_challenge, scope_for_request
from nerve_registry.errors import RegistryError, RegistryUnavailableError

logger = logging.getLogger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD"})
RETRY_STATUSES = frozenset({429, 502, 503, 504})
RETRY_DELAYS = (0.2, 0.5)


class TokenProvider(Protocol):
    """Source of registry bearer tokens, each valid for one scope string."""

    async def token_for(self, scope: str) -> str:
        """Return a token that grants ``scope`` ("" for a token without access).

        The provider may return a cached token that is still valid.
        """
        ...

    def discard(self, scope: str) -> None:
        """Forget the cached token for ``scope``, after the registry rejected it."""
        ...


class RegistryClient:
    """HTTP client bound to one registry base URL, shared by every request of the service.

    >>> client = RegistryClient("http://127.0.0.1:5000")
    >>> page = await catalog.list_catalog_page(client, n=100, last=None)
    >>> await client.aclose()
    """

    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_connections: int = 32,
        tokens: TokenProvider | None = None,
        verify: bool | str | ssl.SSLContext = True,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._tokens = tokens
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            limits=httpx.Limits(
                max_connections=max_connections,
                max_keepalive_connections=max_connections,
            ),
            follow_redirects=True,
            verify=verify,
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        """Send one request to the registry and return the response, whatever its status.

        Raises RegistryUnavailableError when the registry cannot be reached.
        """
        method = method.upper()
        request_headers = dict(headers or {})

        scope = scope_for_request(method, path)
        if self._tokens is not None:
            token = await self._tokens.token_for(scope)
            request_headers["Authorization"] = f"Bearer {token}"

        response = await self._send_with_retries(method, path, params, request_headers, content)

        challenge = parse_bearer_challenge(response.headers.get("www-authenticate", ""))
        if response.status_code == 401 and self._tokens is not None and challenge is not None:
            logger.info(
                "Registry rejected the token for %s %s, fetching one for scope %r",
                method,
                urlsplit(path).path,
                challenge.scope,
            )
            self._tokens.discard(scope)
            token = await self._tokens.token_for(challenge.scope)
            request_headers["Authorization"] = f"Bearer {token}"
            response = await self._send_with_retries(method, path, params, request_headers, content)

        return response

    async def _send_with_retries(
        self,
        method: str,
        path: str,
        params: Mapping[str, str | int] | None,
        headers: dict[str, str],
        content: bytes | None,
    ) -> httpx.Response:
        attempts = len(RETRY_DELAYS) + 1 if method in IDEMPOTENT_METHODS else 1

        for attempt in range(attempts):
            last_attempt = attempt == attempts - 1
            try:
                response = await self._send_once(method, path, params, headers, content)
            except httpx.TransportError as error:
                if last_attempt:
                    raise self._unavailable(method, path, error) from error
                logger.warning(
                    "Registry request %s %s failed (%s), retrying", method, path, _describe(error)
                )
                await asyncio.sleep(RETRY_DELAYS[attempt])
                continue

            if response.status_code in RETRY_STATUSES and not last_attempt:
                logger.warning(
                    "Registry returned %d for %s %s, retrying",
                    response.status_code,
                    method,
                    path,
                )
                await asyncio.sleep(RETRY_DELAYS[attempt])
                continue

            return response

        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _send_once(
        self,
        method: str,
        path: str,
        params: Mapping[str, str | int] | None,
        headers: dict[str, str],
        content: bytes | None,
    ) -> httpx.Response:
        response = await self._http.request(
            method, path, params=params, headers=headers, content=content
        )
        logger.debug(
            "Registry %s %s -> %d", method, response.request.url.path, response.status_code
        )
        return response

    def _unavailable(
        self, method: str, path: str, error: httpx.TransportError
    ) -> RegistryUnavailableError:
        logger.error(
            "Registry at %s unreachable on %s %s: %s", self.base_url, method, path, _describe(error)
        )
        return RegistryUnavailableError(
            f"The registry at {self.base_url} is not reachable ({_describe(error)}). "
            "If the service runs the embedded registry it restarts it automatically; "
            "retry in a few seconds."
        )

    def raise_for_status(self, response: httpx.Response, action: str) -> None:
        """Raise the error that fits a status the caller did not expect for ``action``.

        ``action`` reads like "list tags of team/app" and starts the message.
        """
        status = response.status_code
        registry_code, registry_message = registry_error(response)
        detail = f"{registry_code}: {registry_message}" if registry_code else f"status {status}"

        if status == 503:
            raise RegistryUnavailableError(
                f"Could not {action}: the registry at {self.base_url} is unavailable ({detail}). "
                "Retry in a few seconds."
            )

        if status == 405:
            raise RegistryError(
                f"Could not {action}: the registry does not allow this operation ({detail}). "
                "Deletion must be enabled in its storage configuration, and it must not be "
                "in read-only maintenance mode.",
                status=status,
                registry_code=registry_code,
            )

        if status in (401, 403):
            raise RegistryError(
                f"Could not {action}: the registry rejected the service's credentials ({detail}).",
                status=status,
                registry_code=registry_code,
            )

        raise RegistryError(
            f"Could not {action}: the registry returned {status} ({detail}).",
            status=status,
            registry_code=registry_code,
        )


def registry_error(response: httpx.Response) -> tuple[str | None, str]:
    """Return the first error code and message of a registry error body, if it has one."""
    try:
        body = response.json()
    except ValueError:
        return None, response.reason_phrase

    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], dict):
        return None, response.reason_phrase

    first = errors[0]
    code = first.get("code")
    message = first.get("message")
    return (
        code if isinstance(code, str) else None,
        message if isinstance(message, str) else response.reason_phrase,
    )


def _describe(error: httpx.TransportError) -> str:
    if isinstance(error, httpx.ConnectError):
        return "connection refused or host unreachable"
    if isinstance(error, httpx.TimeoutException):
        return "timed out"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
