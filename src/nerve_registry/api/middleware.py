"""ASGI middleware: request body size limit and one log line per request."""

from __future__ import annotations

import json
import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("nerve_registry.access")

# Characters of a request path shown in a log line or message; the rest is cut.
MAX_SHOWN_PATH_LENGTH = 200


def printable_path(path: str) -> str:
    """Return ``path`` safe for one log line: control characters escaped, at most 200 characters.

    The ASGI path is percent-decoded, so a request for ``/%0a...`` would
    otherwise start a new, forged log line.
    """
    if len(path) > MAX_SHOWN_PATH_LENGTH:
        path = path[:MAX_SHOWN_PATH_LENGTH] + "..."
    if path.isprintable():
        return path
    return "".join(
        character if character.isprintable() else character.encode("unicode_escape").decode()
        for character in path
    )


class BodySizeLimit:
    """Reject request bodies larger than ``max_bytes`` with 413 before the route reads them.

    A declared Content-Length over the limit is rejected at once. Otherwise the
    body is read into memory up to the limit and replayed to the application;
    API bodies are small JSON documents, so buffering costs little.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await _send_too_large(send, self.max_bytes)
            return

        body = await self._read_body(receive)
        if body is None:
            await _send_too_large(send, self.max_bytes)
            return

        await self.app(scope, _replay(body, receive), send)

    async def _read_body(self, receive: Receive) -> bytes | None:
        """Return the whole body, or None as soon as it grows past the limit."""
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return None
            parts.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(parts)


def _replay(body: bytes, receive: Receive) -> Receive:
    """Return a receive callable that yields the buffered body once, then defers to ``receive``."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_too_large(send: Send, max_bytes: int) -> None:
    body = json.dumps(
        {
            "errorCode": "REQUEST_TOO_LARGE",
            "message": f"The request body is larger than the limit of {max_bytes} bytes.",
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class AccessLog:
    """Log method, path, status and duration of each request at INFO; no headers, no bodies."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            client = scope.get("client")
            logger.info(
                "%s %s %d %.1fms %s",
                scope["method"],
                printable_path(scope["path"]),
                status,
                (time.perf_counter() - started) * 1000,
                client[0] if client else "-",
            )
