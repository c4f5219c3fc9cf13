"""The MS handle: a requests session that logs in to a Nerve Management System (MS)."""

from __future__ import annotations

import http
import logging
import os
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urljoin

import requests

from ._errors import CheckStatusCodeError
from ._logging import setup_logging

logger = logging.getLogger(__name__)

# (connect, read) timeouts in seconds, used unless the caller passes ``timeout``.
_GET_TIMEOUT = (7.5, 5.0)
_OTHER_TIMEOUT = (7.5, 30.0)

_DEFAULT_ACCEPTED = (200, 204)

# Statuses that mean "no valid session": the handle logs in and repeats the request once.
_SESSION_REJECTED = frozenset({401, 403})

# Current MS releases return 204. The public nerve_lib package also accepts 200 from MS
# releases before 2.10. A 403 or 401 means that the session had already ended.
_LOGOUT_ACCEPTED = (200, 204, 401, 403)

_BODY_PREVIEW_CHARS = 500

# Positional parameters of requests.Session.request after method and url, in order.
_SESSION_REQUEST_PARAMETERS = (
    "params",
    "data",
    "headers",
    "cookies",
    "files",
    "auth",
    "timeout",
    "allow_redirects",
    "proxies",
    "hooks",
    "stream",
    "verify",
    "cert",
    "json",
)

_RELEASE_PART = re.compile(r"[0-9]+")
_RELEASE_PART_COUNT = 3


class MSHandle(requests.Session):
    """A requests session that logs in to an MS and checks every response status.

    Example::

        with MSHandle("ms.example", "admin", "secret") as ms:
            ms.post("nerve/registry/images", json={}, accepted_status=[200]).json()

    ``ms_url`` is a host name, which gets ``https://``, or a URL that starts with
    ``http://`` or ``https://`` and keeps its scheme. A relative path such as
    ``nerve/registry/images`` joins onto the host root, a path that starts with
    ``/`` is absolute on the host, and a full http(s) URL is used as it is.

    Attributes:
        url: the MS URL with its scheme, as given or with ``https://`` added.
        api_url: the host root that relative paths join onto, ending in ``/``.
        ms_url: ``url`` without its scheme, for example ``ms.example`` or
            ``127.0.0.1:8080``.
        usr, psw: the credentials from the arguments, else from MS_USR and MS_PSW.

    A 403 or 401 that the call does not accept makes the handle log in and send
    the request once more, so no explicit login is needed. Leaving a ``with``
    block logs out. Constructing a handle calls :func:`setup_logging`, so the
    log level comes from LOGGING_LEVEL.

    TLS: unlike the public nerve_lib package, which turns certificate
    verification off, this handle verifies certificates by default. ``verify`` works as in requests:
    ``True`` (the default, which also honours REQUESTS_CA_BUNDLE and
    CURL_CA_BUNDLE), the path of a CA bundle, or ``False`` to skip verification.

    Raises:
        ValueError: ``ms_url`` is empty or has a scheme other than http or https,
            or LOGGING_LEVEL is not a log level.
    """

    def __init__(
        self,
        ms_url: str,
        user: str = "",
        password: str = "",
        *,
        verify: bool | str = True,
    ) -> None:
        setup_logging()
        super().__init__()

        self.url, self.ms_url = _split_ms_url(ms_url)
        self.api_url = urljoin(self.url, "/")
        self.verify = verify
        self.usr = user or os.environ.get("MS_USR", "")
        self.psw = password or os.environ.get("MS_PSW", "")

        self.headers.update(
            {"Content-Type": "application/json", "accept": "application/json, text/plain, */*"}
        )
        self._is_logged_in = False
        self._ms_version = ""

    def __exit__(self, *args: Any) -> None:
        """Log out if logged in, then close the connection pool.

        A failed logout is logged as a warning and not raised, so that it cannot
        replace an exception that is leaving the ``with`` block.
        """
        try:
            if self._is_logged_in:
                self.logout()
        except (requests.RequestException, CheckStatusCodeError) as error:
            # The traceback goes to DEBUG only: a failed logout is no reason to show one.
            logger.warning(
                "logout from %s failed while leaving the with block: %s", self.url, error
            )
            logger.debug("logout failure details", exc_info=True)
        finally:
            self.close()

    def request(
        self,
        method: str | bytes,
        url: str | bytes,
        *args: Any,
        accepted_status: Iterable[int] | None = None,
        content_type: str | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """Send a request, logging in first if the MS rejects the session.

        ``args`` and ``kwargs`` are those of :meth:`requests.Session.request`.
        ``accepted_status`` lists the statuses that count as success (default
        200 and 204). A 403 or 401 outside that list makes the handle log in and
        send the request once more. ``content_type`` replaces the default
        ``application/json`` for this request only. Without ``timeout`` a GET
        waits 7.5 s to connect and 5 s to read, other methods 7.5 s and 30 s.
        One connect or read timeout is retried.

        NOTE: the retry after a read timeout also repeats a POST or DELETE that
        the MS may already have carried out, as the public nerve_lib package does.

        Raises:
            CheckStatusCodeError: the final response has a status outside
                ``accepted_status``, including a second 403 after logging in.
            ValueError: a login is needed but no credentials are set.
            requests.ConnectTimeout, requests.ReadTimeout: the retry timed out too.
        """
        method = method.decode("ascii") if isinstance(method, bytes) else method
        options = _merge_positional(args, kwargs)
        accepted = list(_DEFAULT_ACCEPTED if accepted_status is None else accepted_status)
        full_url = self._absolute_url(url)
        if content_type is not None:
            options["headers"] = {**(options.get("headers") or {}), "Content-Type": content_type}

        response = self._send(method, full_url, options)
        if (
            response.status_code in _SESSION_REJECTED
            and response.status_code not in accepted
            and not _is_permission_denial(response)
        ):
            self._renew_session(response.status_code)
            response = self._send(method, full_url, options)

        _check_status(method, response, accepted)
        return response

    # The verb methods only widen the signatures of requests.Session, so that type
    # checkers accept ``accepted_status`` and ``content_type``.

    def get(self, url: str | bytes, params: Any = None, **kwargs: Any) -> requests.Response:
        """Send a GET request, taking the keyword arguments of :meth:`request`."""
        kwargs.setdefault("allow_redirects", True)
        return self.request("GET", url, params=params, **kwargs)

    def options(self, url: str | bytes, **kwargs: Any) -> requests.Response:
        """Send an OPTIONS request, taking the keyword arguments of :meth:`request`."""
        kwargs.setdefault("allow_redirects", True)
        return self.request("OPTIONS", url, **kwargs)

    def head(self, url: str | bytes, **kwargs: Any) -> requests.Response:
        """Send a HEAD request, which follows redirects only with ``allow_redirects=True``."""
        kwargs.setdefault("allow_redirects", False)
        return self.request("HEAD", url, **kwargs)

    def post(
        self, url: str | bytes, data: Any = None, json: Any = None, **kwargs: Any
    ) -> requests.Response:
        """Send a POST request, taking the keyword arguments of :meth:`request`."""
        return self.request("POST", url, data=data, json=json, **kwargs)

    def put(self, url: str | bytes, data: Any = None, **kwargs: Any) -> requests.Response:
        """Send a PUT request, taking the keyword arguments of :meth:`request`."""
        return self.request("PUT", url, data=data, **kwargs)

    def patch(self, url: str | bytes, data: Any = None, **kwargs: Any) -> requests.Response:
        """Send a PATCH request, taking the keyword arguments of :meth:`request`."""
        return self.request("PATCH", url, data=data, **kwargs)

    def delete(self, url: str | bytes, **kwargs: Any) -> requests.Response:
        """Send a DELETE request, taking the keyword arguments of :meth:`request`."""
        return self.request("DELETE", url, **kwargs)

    def login(self, user: str = "", password: str = "") -> requests.Response:
        """Log in with ``POST /auth/login`` and send the session id on every later request.

        ``user`` and ``password`` replace the stored credentials when given. An
        existing session is logged out first. The MS returns the session id in
        the ``sessionId`` response header, and the handle sends it back as the
        ``sessionid`` request header.

        Raises:
            ValueError: no user name or password in the arguments, the constructor,
                MS_USR or MS_PSW.
            CheckStatusCodeError: the MS rejected the credentials (403 or 401), or
                returned 200 without a ``sessionId`` header.
        """
        self.usr = user or self.usr
        self.psw = password or self.psw
        if not self.usr or not self.psw:
            message = (
                f"missing user name or password for the MS login at {self.url}: pass user "
                "and password to MSHandle or login(), or set MS_USR and MS_PSW"
            )
            raise ValueError(message)

        if self._is_logged_in:
            self.logout()

        login_url = self._absolute_url("/auth/login")
        response = self._send(
            "POST", login_url, {"json": {"identity": self.usr, "secret": self.psw}}
        )
        _check_status("POST", response, [200])

        session_id = response.headers.get("sessionId", "")
        if not session_id:
            message = (
                f"POST {login_url} returned 200 without a sessionId header, so no session started"
            )
            raise CheckStatusCodeError(message, response.status_code, response.text)

        self.headers["sessionid"] = session_id
        self._is_logged_in = True
        logger.debug("logged in to %s as %s", self.url, self.usr)
        return response

    def logout(self) -> requests.Response:
        """End the session with ``GET /auth/logout`` and stop sending the session id.

        A 403 or 401 means the session had already ended and does not raise.

        Raises:
            CheckStatusCodeError: the MS returned any other status.
        """
        logout_url = self._absolute_url("/auth/logout")
        try:
            response = self._send("GET", logout_url, {})
        finally:
            self._forget_session()

        _check_status("GET", response, _LOGOUT_ACCEPTED)
        logger.debug("logged out of %s", self.url)
        return response

    @property
    def version(self) -> str:
        """MS release such as ``2.10.0``.

        The handle reads it once from ``GET /nerve/update/cloud/current-version``.
        Empty when the response has no ``currentVersion``. An empty value is not
        cached, so the next access requests it again.
        """
        if not self._ms_version:
            response = self.request(
                "GET", "/nerve/update/cloud/current-version", accepted_status=[200]
            )
            body = response.json()
            current = body.get("currentVersion") if isinstance(body, dict) else None
            self._ms_version = str(current or "")
        return self._ms_version

    def version_smaller_than(self, version: str) -> bool:
        """Return True if the MS release is older than ``version``, both in X.Y.Z form.

        Anything after the first ``-`` is ignored, so ``2.10.0-rc1`` compares as
        ``2.10.0``. An MS version that is not X.Y.Z (empty, ``master``,
        ``integration``) is never smaller and returns False. A ``version`` that
        does not have three dot-separated parts (``master``) counts as newer than
        every release and returns True, as in the public nerve_lib package.

        Raises:
            ValueError: ``version`` has three parts that are not all numbers.
        """
        current = _parse_release(self.version)
        if current is None:
            logger.info("MS version %r is not X.Y.Z, so it counts as the newest", self.version)
            return False

        parts = version.split("-", maxsplit=1)[0].split(".")
        if len(parts) != _RELEASE_PART_COUNT:
            return True

        other = _parse_release(version)
        if other is None:
            message = (
                f"version {version!r} is invalid: expected X.Y.Z with numbers, such as '2.10.0'"
            )
            raise ValueError(message)
        return current < other

    def _absolute_url(self, url: str | bytes) -> str:
        text = url.decode("utf-8") if isinstance(url, bytes) else url
        if _has_http_scheme(text):
            return text
        return urljoin(self.api_url, text)

    def _send(self, method: str, url: str, options: dict[str, Any]) -> requests.Response:
        """Send one request with the default timeout and TLS setting, retrying one timeout."""
        options = dict(options)
        options.setdefault("timeout", _GET_TIMEOUT if method.upper() == "GET" else _OTHER_TIMEOUT)

        # Passed per request because requests lets REQUESTS_CA_BUNDLE override a
        # session-level verify=False.
        options.setdefault("verify", self.verify)

        try:
            response = super().request(method, url, **options)
        except (requests.ConnectTimeout, requests.ReadTimeout) as error:
            logger.warning(
                "%s %s timed out (%s), sending it once more",
                method.upper(),
                url,
                type(error).__name__,
            )
            response = super().request(method, url, **options)

        logger.debug("%s %s returned %d", method.upper(), url, response.status_code)
        return response

    def _renew_session(self, status_code: int) -> None:
        if self._is_logged_in:
            logger.info(
                "%s rejected the session with %d, logging in again as %s",
                self.url,
                status_code,
                self.usr,
            )
        else:
            logger.debug(
                "%s returned %d without a session, logging in as %s",
                self.url,
                status_code,
                self.usr,
            )

        # login() logs the old session out first, so that a session the MS still
        # has open is not left behind until it times out.
        self.login()

    def _forget_session(self) -> None:
        self.headers.pop("sessionid", None)
        self._is_logged_in = False


def _is_permission_denial(response: requests.Response) -> bool:
    """Tell whether a 403 refuses the action itself rather than the session.

    The MS registry service marks such responses with the error code
    PERMISSION_DENIED. Logging in again cannot change them, so the handle
    raises at once instead of opening a second session.
    """
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("errorCode") == "PERMISSION_DENIED"


def _split_ms_url(ms_url: str) -> tuple[str, str]:
    """Return the URL with its scheme and the part after the scheme."""
    text = ms_url.strip()
    if not text:
        message = (
            "ms_url is empty: pass a host name such as 'ms.example' "
            "or a URL such as 'https://ms.example'"
        )
        raise ValueError(message)

    scheme, separator, rest = text.partition("://")
    if not separator:
        return f"https://{text}", text

    if scheme.lower() not in ("http", "https") or not rest:
        message = f"ms_url {ms_url!r} is invalid: use a host name or an http:// or https:// URL"
        raise ValueError(message)
    return text, rest


def _has_http_scheme(url: str) -> bool:
    return url.lower().startswith(("http://", "https://"))


def _merge_positional(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """Turn positional arguments of requests.Session.request into keyword arguments."""
    if len(args) > len(_SESSION_REQUEST_PARAMETERS):
        limit = len(_SESSION_REQUEST_PARAMETERS)
        message = f"request() takes at most {limit} positional arguments after method and url"
        raise TypeError(message)

    options = dict(kwargs)
    for name, value in zip(_SESSION_REQUEST_PARAMETERS, args, strict=False):
        if name in options:
            raise TypeError(f"request() got multiple values for argument {name!r}")
        options[name] = value
    return options


def _check_status(method: str, response: requests.Response, accepted: Iterable[int]) -> None:
    """Raise CheckStatusCodeError unless the response status is in ``accepted``."""
    accepted_codes = list(accepted)
    if response.status_code in accepted_codes:
        return

    body = "" if response.status_code == http.HTTPStatus.NO_CONTENT else response.text
    message = _status_message(method, response, accepted_codes, body)
    raise CheckStatusCodeError(message, response.status_code, body)


def _status_message(
    method: str, response: requests.Response, accepted: list[int], body: str
) -> str:
    status = response.status_code
    reason = response.reason or _standard_reason(status)
    accepted_text = ", ".join(str(code) for code in accepted)
    message = (
        f"{method.upper()} {response.url} failed: {status} {reason} (accepted: {accepted_text})"
    )

    preview = body.strip()
    if len(preview) > _BODY_PREVIEW_CHARS:
        preview = f"{preview[:_BODY_PREVIEW_CHARS]} ... ({len(preview)} characters in total)"
    if preview:
        message = f"{message}: {preview}"
    return message


def _standard_reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown Status"


def _parse_release(version: str) -> tuple[int, ...] | None:
    """Return (X, Y, Z) for ``X.Y.Z`` or ``X.Y.Z-suffix``, else None."""
    parts = version.split("-", maxsplit=1)[0].split(".")
    if len(parts) != _RELEASE_PART_COUNT or not all(
        _RELEASE_PART.fullmatch(part) for part in parts
    ):
        return None
    return tuple(int(part) for part in parts)
