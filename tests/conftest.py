"""Fixtures shared by every test: an event loop thread, a real registry and OCI layout folders."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.loop import LoopThread
from tests.support.registry import RunningRegistry, running_registry
from tests.support.service import ApiSession, RunningService, running_service


@pytest.fixture(scope="session")
def loop_thread() -> Iterator[LoopThread]:
    """An event loop on a background thread for the whole session (pytest-asyncio is not used)."""
    with LoopThread() as loop:
        yield loop


@pytest.fixture(scope="session")
def registry(
    tmp_path_factory: pytest.TempPathFactory, loop_thread: LoopThread
) -> Iterator[RunningRegistry]:
    """A real ``docker-registry`` for the whole session, which tests must not stop or restart.

    Tests that kill, stop or restart a registry start their own with
    ``tests.support.registry.running_registry``.
    """
    data_dir = tmp_path_factory.mktemp("registry-data")
    with running_registry(data_dir, loop_thread) as running:
        yield running


@pytest.fixture
def oci_layout(tmp_path: Path) -> Path:
    """A fresh, not yet existing directory for an OCI image layout."""
    return tmp_path / "layout"


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    """The real MS registry service with its embedded registry, shared by the whole session.

    Tests that share it work in repositories of their own (see ``repository``);
    tests that list the whole catalog or stop processes start their own service.
    """
    with running_service(tmp_path_factory.mktemp("service")) as running:
        yield running


@pytest.fixture
def api(service: RunningService) -> Iterator[ApiSession]:
    """A raw HTTP session to the shared service, logged in as admin."""
    session = service.api()
    yield session
    session.close()


@pytest.fixture
def repository(request: pytest.FixtureRequest) -> str:
    """A repository name that no other test uses, derived from the test's name."""
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
    return f"tests/{name[:80]}"


@pytest.fixture
def fresh_service(tmp_path: Path) -> Iterator[RunningService]:
    """A service of the test's own, for tests that change global state (policies, gc, runs)."""
    with running_service(tmp_path / "service") as running:
        yield running
