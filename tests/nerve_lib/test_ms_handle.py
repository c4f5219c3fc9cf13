"""MSHandle against the fake MS: URLs, login, re-login, status errors, timeouts, logout."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from nerve_lib import CheckStatusCodeError, MSHandle, _handle
from tests.nerve_lib.fake_ms import LOGIN_PATH, LOGOUT_PATH, PASSWORD, USER, FakeMS, Reply

VERSION_PATH = "/nerve/update/cloud/current-version"


def calls(fake: FakeMS) -> list[tuple[str, str]]:
    return [(request.method, request.path) for request in fake.requests]


@pytest.fixture
def send_options(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Keyword arguments of every requests.Session.send call, which still sends."""
    recorded: list[dict[str, Any]] = []
    original_send = requests.Session.send

    def recording_send(
        session: requests.Session, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        recorded.append({"method": request.method, **kwargs})
        return original_send(session, request, **kwargs)

    monkeypatch.setattr(requests.Session, "send", recording_send)
    return recorded


@pytest.fixture
def logged_in(ms: MSHandle, fake_ms: FakeMS) -> Iterator[MSHandle]:
    """The handle after one successful login, with the login request recorded."""
    ms.login()
    yield ms


# URL and scheme rules


def test_bare_host_gets_https() -> None:
    handle = MSHandle("ms.example", USER, PASSWORD)

    assert handle.url == "https://ms.example"
    assert handle.api_url == "https://ms.example/"
    assert handle.ms_url == "ms.example"


def test_http_url_keeps_scheme() -> None:
    handle = MSHandle("http://127.0.0.1:8080", USER, PASSWORD)

    assert handle.url == "http://127.0.0.1:8080"
    assert handle.api_url == "http://127.0.0.1:8080/"
    assert handle.ms_url == "127.0.0.1:8080"


def test_https_url_keeps_scheme() -> None:
    handle = MSHandle("https://ms.example:8443", USER, PASSWORD)

    assert handle.url == "https://ms.example:8443"
    assert handle.ms_url == "ms.example:8443"


@pytest.mark.parametrize("ms_url", ["", "   ", "ftp://ms.example", "http://"])
def test_invalid_ms_url_raises(ms_url: str) -> None:
    with pytest.raises(ValueError, match="ms_url"):
        MSHandle(ms_url, USER, PASSWORD)


def test_relative_path_joins_onto_host_root(
    fake_ms: FakeMS, make_handle: Callable[..., MSHandle]
) -> None:
    fake_ms.reply("GET", "/nerve/registry/ping", Reply(200, {}))
    handle = make_handle(f"{fake_ms.url}/some/base/", USER, PASSWORD)

    handle.get("nerve/registry/ping")

    assert ("GET", "/nerve/registry/ping") in calls(fake_ms)


def test_leading_slash_is_absolute_on_host(logged_in: MSHandle, fake_ms: FakeMS) -> None:
    fake_ms.reply("GET", "/nerve/registry/ping", Reply(200, {}))

    logged_in.get("/nerve/registry/ping")

    assert calls(fake_ms)[-1] == ("GET", "/nerve/registry/ping")


def test_full_url_is_used_as_is(logged_in: MSHandle, fake_ms: FakeMS) -> None:
    fake_ms.reply("GET", "/nerve/registry/ping", Reply(200, {}))

    logged_in.get(f"{fake_ms.url}/nerve/registry/ping")

    assert calls(fake_ms)[-1] == ("GET", "/nerve/registry/ping")


def test_positional_params_pass_through(logged_in: MSHandle, fake_ms: FakeMS) -> None:
    fake_ms.reply("GET", "/nerve/query", Reply(200, {}))

    logged_in.request("GET", "nerve/query", {"name": "team/app"})

    assert fake_ms.requests[-1].path == "/nerve/query?name=team%2Fapp"


# Credentials, login and headers


def test_login_sends_identity_and_secret(ms: MSHandle, fake_ms: FakeMS) -> None:
    ms.login()

    login = fake_ms.requests_to("POST", LOGIN_PATH)[0]
    assert login.body == {"identity": USER, "secret": PASSWORD}


def test_credentials_from_environment(
    fake_ms: FakeMS, monkeypatch: pytest.MonkeyPatch, make_handle: Callable[..., MSHandle]
) -> None:
    monkeypatch.setenv("MS_USR", USER)
    monkeypatch.setenv("MS_PSW", PASSWORD)

    make_handle(fake_ms.url).login()

    login = fake_ms.requests_to("POST", LOGIN_PATH)[0]
    assert login.body == {"identity": USER, "secret": PASSWORD}


def test_arguments_override_environment(
    fake_ms: FakeMS, monkeypatch: pytest.MonkeyPatch, make_handle: Callable[..., MSHandle]
) -> None:
    monkeypatch.setenv("MS_USR", "someone-else")
    monkeypatch.setenv("MS_PSW", "other-password")

    make_handle(fake_ms.url, USER, PASSWORD).login()

    login = fake_ms.requests_to("POST", LOGIN_PATH)[0]
    assert login.body == {"identity": USER, "secret": PASSWORD}


def test_login_arguments_replace_stored_credentials(
    fake_ms: FakeMS, make_handle: Callable[..., MSHandle]
) -> None:
    handle = make_handle(fake_ms.url, "someone-else", "other-password")

    handle.login(USER, PASSWORD)

    assert handle.usr == USER


def test_login_without_credentials_raises(
    fake_ms: FakeMS, make_handle: Callable[..., MSHandle]
) -> None:
    handle = make_handle(fake_ms.url)

    with pytest.raises(ValueError, match="MS_USR and MS_PSW"):
        handle.login()

    assert fake_ms.requests == []


def test_request_without_credentials_raises_after_403(
    fake_ms: FakeMS, make_handle: Callable[..., MSHandle]
) -> None:
    handle = make_handle(fake_ms.url)

    with pytest.raises(ValueError, match="missing user name or password"):
        handle.get("nerve/registry/ping")

    assert calls(fake_ms) == [("GET", "/nerve/registry/ping")]


def test_sessionid_sent_after_login(logged_in: MSHandle, fake_ms: FakeMS) -> None:
    fake_ms.reply("GET", "/nerve/registry/ping", Reply(200, {}))

    logged_in.get("nerve/registry/ping")

    login, ping = fake_ms.requests
    assert "sessionid" not in login.headers
    assert ping.headers["sessionid"] == fake_ms.issued_session_ids[0]


def test_default_headers_sent(logged_in: MSHandle, fake_ms: FakeMS) -> None:
    fake_ms.reply("GET", "/nerve/registry/ping", Reply(200, {}))

    logged_in.get("nerve/registry/ping")

    headers = fake_ms.requests[-1].headers
    assert headers["content-type"] == "application/json"
    assert headers["accept"] == "application/json, text/plain, */*"


def test_content_type_applies_to_one_request(logged_in: MSHandle, fake_ms: FakeMS) -> None:
    fake_ms.reply("POST", "/nerve/text", Reply(200, {}))

    logged_in.post("nerve/text", data="plain words", content_type="text/plain")
    logged_in.post("nerve/text", json={})

    first, second = fake_ms.requests_to("POST", "/nerve/text")
    assert first.headers["content-type"] == "text/plain"
    assert second.headers["content-type"] == "application/json"


def test_bad_credentials_raise(fake_ms: FakeMS, make_handle: Callable[..., MSHandle]) -> None:
    handle = make_handle(fake_ms.url, USER, "wrong-password")

    with pytest.raises(CheckStatusCodeError) as caught:
        handle.login()

    assert caught.value.status_code == 403
    assert "NOT_AUTHENTICATED" in caught.value.response_text


def test_bad_credentials_on_request_log_in_once(
    fake_ms: FakeMS, make_handle: Callable[..., MSHandle]
) -> None:
    handle = make_handle(fake_ms.url, USER, "wrong-password")

    with pytest.raises(CheckStatusCodeError) as caught:
        handle.get("nerve/registry/ping")

    assert caught.value.status_code == 403
    assert len(fake_ms.requests_to("POST", LOGIN_PATH)) == 1


def test_login_without_session_header_raises(ms: MSHandle, fake_ms: FakeMS) -> None:
    fake_ms.reply("POST", LOGIN_PATH, Reply(200, {}))

    with pytest.raises(CheckStatusCodeError, match="sessionId") as caught:
        ms.login()

    assert caught.value.status_code == 200


# Re-login on 403 and status errors


def test_forbidden_logs_in_and_repeats(ms: MSHandle, fake_ms: FakeMS) -> None:
    fake_ms.reply("POST", "/nerve/registry/images", Reply(200, {"images": [], "next": None}))

    response = ms.post("nerve/registry/images", json={}, accepted_status=[200])

    assert response.json() == {"images": [], "next": None}
    assert calls(fake_ms) == [
        ("POST", "/nerve/registry/images"),
        ("POST", LOGIN_PATH),
        ("POST", "/nerve/registry/images"),
    ]
    assert fake_ms.requests[-1].headers["sessionid"] == fake_ms.issued_session_ids[0]


def test_expired_session_logs_in_again(
    logged_in: MSHandle, fake_ms: FakeMS, caplog: pytest.LogCaptureFixture
) -> None:
    fake_ms.reply("GET", "/nerve/registry/ping", Reply(200, {}))
    fake_ms.expire_sessions()

    with caplog.at_level(logging.INFO, logger="nerve_lib"):
        logged_in.get("nerve/registry/ping")

    assert len(fake_ms.requests_to("POST", LOGIN_PATH)) == 2
    assert fake_ms.requests[-1].headers["sessionid"] == fake_ms.issued_session_ids[1]
    assert "rejected the session with 403" in caplog.text


def test_second_forbidden_raises(ms: MSHandle, fake_ms: FakeMS) -> None:
    body = '{"errorCode": "PERMISSION_DENIED", "message": "Not allowed."}'
    fake_ms.reply("POST", "/nerve/registry/images", Reply(403, body))

    with pytest.raises(CheckStatusCodeError) as caught:
        ms.post("nerve/registry/images", json={}, accepted_status=[200])

    error = caught.value
    assert error.status_code == 403
    assert error.response_text == body
    assert error.value == str(error)
    assert f"POST {fake_ms.url}/nerve/registry/images" in error.value
    assert "403 Forbidden" in error.value
    assert "PERMISSION_DENIED" in error.value
    assert len(fake_ms.requests_to("POST", LOGIN_PATH)) == 1


def test_unauthorized_logs_in_and_repeats(logged_in: MSHandle, fake_ms: FakeMS) -> None:
    fake_ms.reply("GET", "/nerve/registry/ping", Reply(401, {}), Reply(200, {"ok": True}))

    response = logged_in.get("nerve/registry/ping")

    assert response.json() == {"ok": True}
    assert len(fake_ms.requests_to("POST", LOGIN_PATH)) == 2


def test_accepted_forbidden_skips_login(ms: MSHandle, fake_ms: FakeMS) -> None:
    response = ms.get("nerve/registry/ping", accepted_status=[200, 403])

    assert response.status_code == 403
    assert fake_ms.requests_to("POST", LOGIN_PATH) == []


def test_unexpected_status_raises(logged_in: MSHandle, fake_ms: FakeMS) -> None:
    fake_ms.reply("GET", "/nerve/registry/ping", Reply(404, {"errorCode": "IMAGE_NOT_FOUND"}))

    with pytest.raises(CheckStatusCodeError) as caught:
        logged_in.get("nerve/registry/ping", accepted_status=[200])

    assert caught.value.status_code == 404
    assert "404 Not Found (accepted: 200)" in caught.value.value


def test_status_error_body_is_shortened(logged_in: MSHandle, fake_ms: FakeMS) -> None:
    body = "x" * 2000
    fake_ms.reply("GET", "/nerve/registry/ping", Reply(500, body))

    with pytest.raises(CheckStatusCodeError) as caught:
        logged_in.get("nerve/registry/ping")

    assert "(2000 characters in total)" in caught.value.value
    assert len(caught.value.value) < 700
    assert caught.value.response_text == body


def test_no_content_error_has_empty_text(logged_in: MSHandle, fake_ms: FakeMS) -> None:
    fake_ms.reply("GET", "/nerve/registry/ping", Reply(204))

    with pytest.raises(CheckStatusCodeError) as caught:
        logged_in.get("nerve/registry/ping", accepted_status=[200])

    assert caught.value.status_code == 204
    assert caught.value.response_text == ""


# Timeouts


def test_read_timeout_retried_then_raises(
    logged_in: MSHandle, fake_ms: FakeMS, caplog: pytest.LogCaptureFixture
) -> None:
    fake_ms.reply("GET", "/nerve/slow", Reply(hold=True))

    with pytest.raises(requests.ReadTimeout):
        logged_in.get("nerve/slow", timeout=(5.0, 0.2))

    fake_ms.wait_for_requests(3)
    assert len(fake_ms.requests_to("GET", "/nerve/slow")) == 2
    assert "timed out (ReadTimeout), sending it once more" in caplog.text


@pytest.fixture
def full_listener() -> Iterator[str]:
    """Return the root URL of a port on 127.0.0.1 where connecting times out.

    The socket listens with a backlog of 0 and its accept queue is filled and never
    drained. Linux then drops further SYNs, so a client connect runs into its timeout.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]

    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)

    yield f"http://127.0.0.1:{port}"

    for filler in fillers:
        filler.close()
    listener.close()


def test_connect_timeout_retried_then_raises(
    full_listener: str,
    make_handle: Callable[..., MSHandle],
    send_options: list[dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    handle = make_handle(full_listener, USER, PASSWORD)

    with pytest.raises(requests.ConnectTimeout):
        handle.get("nerve/registry/ping", timeout=(0.2, 1.0))

    assert len(send_options) == 2
    assert "timed out (ConnectTimeout), sending it once more" in caplog.text


def test_read_timeout_retried_then_succeeds(logged_in: MSHandle, fake_ms: FakeMS) -> None:
    fake_ms.reply("GET", "/nerve/slow", Reply(hold=True), Reply(200, {"ok": True}))

    response = logged_in.get("nerve/slow", timeout=(5.0, 0.2))

    assert response.json() == {"ok": True}
    assert len(fake_ms.requests_to("GET", "/nerve/slow")) == 2


def test_default_timeout_applies(
    logged_in: MSHandle, fake_ms: FakeMS, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_handle, "_GET_TIMEOUT", (5.0, 0.2))
    fake_ms.reply("GET", "/nerve/slow", Reply(hold=True))

    with pytest.raises(requests.ReadTimeout):
        logged_in.get("nerve/slow")


def test_default_timeouts_per_method(
    logged_in: MSHandle, fake_ms: FakeMS, send_options: list[dict[str, Any]]
) -> None:
    fake_ms.reply("GET", "/nerve/registry/ping", Reply(200, {}))
    fake_ms.reply("POST", "/nerve/registry/ping", Reply(200, {}))

    logged_in.get("nerve/registry/ping")
    logged_in.post("nerve/registry/ping", json={})

    assert [options["timeout"] for options in send_options] == [(7.5, 5.0), (7.5, 30.0)]


def test_caller_timeout_wins(
    logged_in: MSHandle, fake_ms: FakeMS, send_options: list[dict[str, Any]]
) -> None:
    fake_ms.reply("GET", "/nerve/registry/ping", Reply(200, {}))

    logged_in.get("nerve/registry/ping", timeout=3.0)

    assert send_options[0]["timeout"] == 3.0


# TLS verification


def test_verify_default_honours_ca_bundle_variable(
    fake_ms: FakeMS,
    send_options: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    make_handle: Callable[..., MSHandle],
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/site-bundle.pem")

    make_handle(fake_ms.url, USER, PASSWORD).login()

    assert send_options[0]["verify"] == "/etc/ssl/certs/site-bundle.pem"


def test_verify_default_is_true(
    fake_ms: FakeMS, send_options: list[dict[str, Any]], make_handle: Callable[..., MSHandle]
) -> None:
    make_handle(fake_ms.url, USER, PASSWORD).login()

    assert send_options[0]["verify"] is True


def test_verify_false_beats_ca_bundle_variable(
    fake_ms: FakeMS,
    send_options: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    make_handle: Callable[..., MSHandle],
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/site-bundle.pem")

    make_handle(fake_ms.url, USER, PASSWORD, verify=False).login()

    assert send_options[0]["verify"] is False


# Version


def test_version_is_read_once(logged_in: MSHandle, fake_ms: FakeMS) -> None:
    fake_ms.reply("GET", VERSION_PATH, Reply(200, {"currentVersion": "2.10.1"}))

    first = logged_in.version
    second = logged_in.version

    assert first == "2.10.1"
    assert second == "2.10.1"
    assert len(fake_ms.requests_to("GET", VERSION_PATH)) == 1


@pytest.mark.parametrize(
    ("ms_version", "other", "expected"),
    [
        ("2.9.3", "2.10.0", True),
        ("2.10.0", "2.10.0", False),
        ("2.10.1", "2.10.0", False),
        ("2.10.0-rc1", "2.10.1", True),
        ("3.0.0", "2.99.99", False),
        ("master", "2.10.0", False),
        ("", "2.10.0", False),
        ("2.10.0", "master", True),
        ("2.10.0", "2.10", True),
    ],
)
def test_version_smaller_than(
    logged_in: MSHandle, fake_ms: FakeMS, ms_version: str, other: str, expected: bool
) -> None:
    fake_ms.reply("GET", VERSION_PATH, Reply(200, {"currentVersion": ms_version}))

    assert logged_in.version_smaller_than(other) is expected


def test_version_smaller_than_rejects_invalid(logged_in: MSHandle, fake_ms: FakeMS) -> None:
    fake_ms.reply("GET", VERSION_PATH, Reply(200, {"currentVersion": "2.10.0"}))

    with pytest.raises(ValueError, match=r"2\.x\.0"):
        logged_in.version_smaller_than("2.x.0")


# Logout and the context manager


def test_logout_drops_session(logged_in: MSHandle, fake_ms: FakeMS) -> None:
    logged_in.logout()

    logout = fake_ms.requests_to("GET", LOGOUT_PATH)[0]
    assert logout.headers["sessionid"] == fake_ms.issued_session_ids[0]
    assert "sessionid" not in logged_in.headers


def test_logout_without_session_is_quiet(ms: MSHandle, fake_ms: FakeMS) -> None:
    response = ms.logout()

    assert response.status_code == 403


def test_context_exit_logs_out(fake_ms: FakeMS) -> None:
    with MSHandle(fake_ms.url, USER, PASSWORD) as handle:
        handle.login()

    assert calls(fake_ms)[-1] == ("GET", LOGOUT_PATH)
    assert fake_ms.requests[-1].headers["sessionid"] == fake_ms.issued_session_ids[0]
    assert "sessionid" not in handle.headers


def test_context_exit_without_login_sends_nothing(fake_ms: FakeMS) -> None:
    with MSHandle(fake_ms.url, USER, PASSWORD):
        pass

    assert fake_ms.requests == []


def test_context_exit_survives_failed_logout(
    fake_ms: FakeMS, caplog: pytest.LogCaptureFixture
) -> None:
    fake_ms.reply("GET", LOGOUT_PATH, Reply(500, {"errorCode": "INTERNAL_ERROR"}))

    with MSHandle(fake_ms.url, USER, PASSWORD) as handle:
        handle.login()

    assert "logout from" in caplog.text
    assert "sessionid" not in handle.headers


# Secrets in logs


def test_logs_hide_password_and_session_ids(
    fake_ms: FakeMS, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake_ms.reply("GET", "/nerve/registry/ping", Reply(200, {}))
    fake_ms.reply("GET", "/nerve/registry/broken", Reply(500, {"errorCode": "INTERNAL_ERROR"}))

    with MSHandle(fake_ms.url, USER, PASSWORD) as handle:
        handle.get("nerve/registry/ping")
        fake_ms.expire_sessions()
        handle.get("nerve/registry/ping")
        with pytest.raises(CheckStatusCodeError):
            handle.get("nerve/registry/broken")
        handle.login()

    assert f"as {USER}" in caplog.text
    assert len(fake_ms.issued_session_ids) == 3
    assert PASSWORD not in caplog.text
    for session_id in fake_ms.issued_session_ids:
        assert session_id not in caplog.text


def test_permission_denial_keeps_session(logged_in: MSHandle, fake_ms: FakeMS) -> None:
    body = '{"errorCode": "PERMISSION_DENIED", "message": "Not allowed."}'
    fake_ms.reply("POST", "/nerve/registry/delete-image-tag", Reply(403, body))

    with pytest.raises(CheckStatusCodeError) as caught:
        logged_in.post("nerve/registry/delete-image-tag", json={}, accepted_status=[200])

    assert caught.value.status_code == 403
    assert len(fake_ms.requests_to("POST", LOGIN_PATH)) == 1
    assert len(fake_ms.requests_to("POST", "/nerve/registry/delete-image-tag")) == 1


def test_relogin_logs_old_session_out(logged_in: MSHandle, fake_ms: FakeMS) -> None:
    fake_ms.reply("GET", "/nerve/registry/ping", Reply(403, {}), Reply(200, {}))

    logged_in.get("nerve/registry/ping")

    assert len(fake_ms.requests_to("GET", "/auth/logout")) == 1
    assert len(fake_ms.requests_to("POST", LOGIN_PATH)) == 2
