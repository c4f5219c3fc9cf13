"""A tiny token endpoint on 127.0.0.1 that issues registry tokens with nerve_registry.security.

It replaces the service's endpoint in tests. It checks the Basic credentials
of one fixed account, parses the ``scope`` parameters, grants the account every
action under ``ACCOUNT/`` and nothing else, and responds as a Docker token
endpoint does. Every request is recorded for the tests to inspect.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from nerve_registry.errors import InvalidInputError
from nerve_registry.security import Access, SigningKey, grant, issue_registry_token, parse_scopes

logger = logging.getLogger(__name__)

TOKEN_PATH = "/token"  # noqa: S105 - a URL path, not a password


@dataclass
class TokenRequest:
    """One request the token server received, and the status it responded with."""

    status: int
    user_agent: str
    service: str | None
    scopes: list[str]
    granted: list[Access] = field(default_factory=list)


class TokenServer:
    """Issue tokens for ``username``/``password`` on a free port of 127.0.0.1."""

    def __init__(
        self,
        signing_key: SigningKey,
        *,
        service: str,
        issuer: str,
        username: str,
        password: str,
    ) -> None:
        self.signing_key = signing_key
        self.service = service
        self.issuer = issuer
        self.username = username
        self.password = password
        self.requests: list[TokenRequest] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def realm(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{TOKEN_PATH}"

    def start(self) -> None:
        self._thread.start()
        logger.info("Token server listening at %s", self.realm)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def allowed_actions(self, access: Access) -> set[str]:
        """Grant everything on repositories under ``USERNAME/``, nothing else."""
        if access.type == "repository" and access.name.startswith(f"{self.username}/"):
            return {"*"}
        return set()

    def credentials_match(self, authorization: str | None) -> bool:
        if authorization is None or not authorization.startswith("Basic "):
            return False

        try:
            decoded = base64.b64decode(authorization[len("Basic ") :], validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False

        username, _, password = decoded.partition(":")
        return username == self.username and password == self.password


def _handler_class(server: TokenServer) -> type[BaseHTTPRequestHandler]:
    class TokenHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            record = TokenRequest(
                status=HTTPStatus.OK,
                user_agent=self.headers.get("User-Agent", ""),
                service=query.get("service", [None])[0],
                scopes=query.get("scope", []),
            )
            server.requests.append(record)

            if url.path != TOKEN_PATH:
                self._reply(record, HTTPStatus.NOT_FOUND, {"error": "not found"})
                return

            if not server.credentials_match(self.headers.get("Authorization")):
                self._reply(record, HTTPStatus.UNAUTHORIZED, {"error": "invalid credentials"})
                return

            if record.service != server.service:
                self._reply(record, HTTPStatus.BAD_REQUEST, {"error": "unknown service"})
                return

            try:
                requested = parse_scopes(record.scopes)
            except InvalidInputError as error:
                self._reply(record, HTTPStatus.BAD_REQUEST, {"error": error.message})
                return

            record.granted = grant(requested, server.allowed_actions)
            issued = issue_registry_token(
                server.signing_key,
                subject=server.username,
                audience=server.service,
                issuer=server.issuer,
                access=record.granted,
            )
            self._reply(record, HTTPStatus.OK, issued.response_body())

        def _reply(self, record: TokenRequest, status: HTTPStatus, body: dict[str, object]) -> None:
            record.status = status
            payload = json.dumps(body).encode()
            self.send_response(status)
            if status == HTTPStatus.UNAUTHORIZED:
                self.send_header("WWW-Authenticate", 'Basic realm="token"')
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            logger.debug("token server: " + format, *args)

    return TokenHandler
