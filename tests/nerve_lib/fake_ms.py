"""A scripted fake MS for the client tests.

It listens on 127.0.0.1 on a free port, records every request (method, path,
headers, decoded JSON body) and responds with the replies scripted for each
method and path. It also plays the MS session protocol. ``POST /auth/login``
with the right ``identity`` and ``secret`` returns 200 and a new ``sessionId``
header. Every other path returns 403 unless the request carries a valid
``sessionid`` header, and ``GET /auth/logout`` ends the session with 204. A
script for the login or logout path replaces that built-in behaviour.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

# Credentials that the fake accepts. The password is distinctive so that a test
# can search the log output for it.
USER = "registry-admin"
PASSWORD = "pw-Zebra-4711-not-for-logs"  # noqa: S105 - test credential

LOGIN_PATH = "/auth/login"
LOGOUT_PATH = "/auth/logout"

# Maximum time in seconds that a held reply blocks its handler thread. The tests
# stop waiting much earlier because their client timeout is far shorter.
_HOLD_LIMIT_S = 10.0


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake MS received it. Header names are lower case."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass(frozen=True)
class Reply:
    """A scripted response. ``body`` is sent as JSON unless it is a str or None.

    With ``hold`` the fake sends nothing and closes the connection once the
    server stops, so the client runs into its read timeout.
    """

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    hold: bool = False


NOT_AUTHENTICATED = Reply(
    403, {"errorCode": "NOT_AUTHENTICATED", "message": "Log in first: no valid session."}
)


class FakeMS:
    """The fake server; use it as a context manager, which starts and stops it."""

    def __init__(self, user: str, password: str) -> None:
        self.user = user
        self.password = password
        self.issued_session_ids: list[str] = []

        self._lock = threading.Condition()
        self._recorded: list[RecordedRequest] = []
        self._scripts: dict[tuple[str, str], deque[Reply]] = {}
        self._valid_sessions: set[str] = set()
        self._release = threading.Event()

        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        # A short poll interval makes shutdown() return quickly at the end of each test.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> FakeMS:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    @property
    def url(self) -> str:
        """Root URL, such as ``http://127.0.0.1:40123``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def requests(self) -> list[RecordedRequest]:
        """Copy of the requests received so far, oldest first."""
        with self._lock:
            return list(self._recorded)

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        """Requests received for one method and path (query string ignored)."""
        return [
            request
            for request in self.requests
            if request.method == method and request.path.split("?")[0] == path
        ]

    def reply(self, method: str, path: str, *replies: Reply) -> None:
        """Script the replies to requests for ``method path``, used in order.

        The last reply repeats for every later request.
        """
        with self._lock:
            self._scripts.setdefault((method, path), deque()).extend(replies)

    def expire_sessions(self) -> None:
        """End every session, as an MS does when sessions time out."""
        with self._lock:
            self._valid_sessions.clear()

    def wait_for_requests(self, count: int) -> None:
        """Block until ``count`` requests arrived; raise AssertionError after 10 s.

        A client can give up on a held reply before the handler thread has
        recorded the request, so tests that count held requests wait here.
        """
        with self._lock:
            arrived = self._lock.wait_for(lambda: len(self._recorded) >= count, _HOLD_LIMIT_S)
        if not arrived:
            raise AssertionError(f"expected {count} requests, got {len(self.requests)}")

    def wait_for_release(self) -> None:
        self._release.wait(_HOLD_LIMIT_S)

    def respond(self, request: RecordedRequest) -> Reply:
        """Record ``request`` and choose the reply for it."""
        with self._lock:
            self._recorded.append(request)
            self._lock.notify_all()

            path = request.path.split("?")[0]
            script = self._scripts.get((request.method, path))
            if path in (LOGIN_PATH, LOGOUT_PATH):
                return _next_reply(script) if script else self._auth_reply(request, path)
            if request.headers.get("sessionid") not in self._valid_sessions:
                return NOT_AUTHENTICATED
            if not script:
                return Reply(404, {"errorCode": "NOT_FOUND", "message": f"No script for {path}."})
            return _next_reply(script)

    def _auth_reply(self, request: RecordedRequest, path: str) -> Reply:
        if path == LOGOUT_PATH:
            session_id = request.headers.get("sessionid", "")
            if session_id not in self._valid_sessions:
                return NOT_AUTHENTICATED
            self._valid_sessions.discard(session_id)
            return Reply(204)

        body = request.body if isinstance(request.body, dict) else {}
        if body.get("identity") != self.user or body.get("secret") != self.password:
            return Reply(403, {"errorCode": "NOT_AUTHENTICATED", "message": "Invalid credentials."})

        session_id = f"session-{secrets.token_hex(12)}"
        self._valid_sessions.add(session_id)
        self.issued_session_ids.append(session_id)
        return Reply(200, {}, headers={"sessionId": session_id})


def _next_reply(script: deque[Reply]) -> Reply:
    return script.popleft() if len(script) > 1 else script[0]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeMS


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def do_PUT(self) -> None:
        self._answer()

    def do_PATCH(self) -> None:
        self._answer()

    def do_DELETE(self) -> None:
        self._answer()

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output free of access log lines."""

    def _answer(self) -> None:
        request = RecordedRequest(
            method=self.command,
            path=self.path,
            headers={name.lower(): value for name, value in self.headers.items()},
            body=self._read_body(),
        )
        reply = self.server.fake.respond(request)

        if reply.hold:
            self.server.fake.wait_for_release()
            self.close_connection = True
            return

        try:
            self._write(reply)
        except OSError:  # the client gave up and closed the connection
            self.close_connection = True

    def _read_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode("utf-8", errors="replace")

    def _write(self, reply: Reply) -> None:
        if reply.body is None:
            payload, content_type = b"", "application/json"
        elif isinstance(reply.body, str):
            payload, content_type = reply.body.encode(), "text/plain; charset=utf-8"
        else:
            payload, content_type = json.dumps(reply.body).encode(), "application/json"

        self.send_response(reply.status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
