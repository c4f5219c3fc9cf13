"""Prune planning runs in a worker thread, so that the event loop keeps serving requests.

A service process cannot show which thread computed its plan, so this test
drives the CleanupController in-process, against the session's real registry
and a real SQLite database, and records the thread that ``build_plan`` runs in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nerve_registry.api.cleanup import CleanupController
from nerve_registry.api.state import Services
from nerve_registry.config import Settings
from nerve_registry.distribution.client import RegistryClient
from nerve_registry.domain import pruning
from nerve_registry.domain.configs import ConfigCache
from nerve_registry.store.database import create_database_engine, create_schema, session_factory
from nerve_registry.store.sessions import SessionPolicy
from tests.support.loop import LoopThread
from tests.support.registry import RunningRegistry


@pytest.fixture
def controller(
    tmp_path: Path, registry: RunningRegistry, loop_thread: LoopThread
) -> Iterator[CleanupController]:
    engine = create_database_engine(f"sqlite:///{tmp_path / 'state.db'}")
    create_schema(engine)
    client = RegistryClient(registry.url)
    services = Services(
        settings=Settings(data_dir=tmp_path / "data", registry_url=registry.url),
        engine=engine,
        database=session_factory(engine),
        registry=client,
        config_cache=ConfigCache(),
        session_policy=SessionPolicy(idle_timeout=60, lifetime=600),
        supervisor=None,
    )
    yield CleanupController(services)
    loop_thread.run(client.aclose())
    engine.dispose()


def test_plan_built_off_event_loop(
    controller: CleanupController, loop_thread: LoopThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_event_loop: list[bool] = []
    build_plan = pruning.build_plan

    def recording_build_plan(*args: Any, **kwargs: Any) -> pruning.Plan:
        on_event_loop.append(_has_running_loop())
        return build_plan(*args, **kwargs)

    monkeypatch.setattr(pruning, "build_plan", recording_build_plan)

    document = loop_thread.run(
        controller.make_plan(policy_names=[], untagged_older_than=None, created_by="test")
    )

    assert document["entries"] == []
    assert on_event_loop == [False]


def _has_running_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
