"""Fixtures for the client tests: a fake MS and a handle pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from nerve_lib import MSHandle
from tests.nerve_lib.fake_ms import PASSWORD, USER, FakeMS


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep credentials, log settings, CA bundles and proxies of the machine out of the tests.

    Without the proxy variables every request goes straight to the fake MS on 127.0.0.1.
    """
    for name in (
        "MS_USR",
        "MS_PSW",
        "LOGGING_LEVEL",
        "DEBUG_LOG_FILE",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake_ms() -> Iterator[FakeMS]:
    with FakeMS(USER, PASSWORD) as fake:
        yield fake


@pytest.fixture
def ms(fake_ms: FakeMS) -> Iterator[MSHandle]:
    handle = MSHandle(fake_ms.url, USER, PASSWORD)
    yield handle
    handle.close()


@pytest.fixture
def make_handle() -> Iterator[Callable[..., MSHandle]]:
    """Return a factory with the arguments of MSHandle whose handles close after the test."""
    handles: list[MSHandle] = []

    def create(*args: Any, **kwargs: Any) -> MSHandle:
        handle = MSHandle(*args, **kwargs)
        handles.append(handle)
        return handle

    yield create

    for handle in handles:
        handle.close()
