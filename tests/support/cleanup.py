"""Helpers for cleanup tests: policies, plans, runs and storage sizes of a running service."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from typing import Any

from nerve_registry.store.database import (
    Base,
    create_database_engine,
    session_factory,
    transaction,
)
from tests.support.service import ApiSession, RunningService

RUN_TIMEOUT = 120.0
BASE = "/nerve/registry"


def put_policy(api: ApiSession, name: str, body: dict[str, Any]) -> dict[str, Any]:
    response = api.put(f"{api.base_url}{BASE}/policies/{name}", json=body, timeout=30)
    assert response.status_code in (200, 201), response.text
    result: dict[str, Any] = response.json()
    return result


def plan(api: ApiSession, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post_json(f"{BASE}/prune/plan", body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def apply(api: ApiSession, plan_id: str, *, gc: bool = False) -> dict[str, Any]:
    """Apply a plan and wait until its run ends; return the finished run."""
    response = api.post_json(f"{BASE}/prune/apply", {"planId": plan_id, "gc": gc})
    assert response.status_code == 202, response.text
    return wait_for_run(api, response.json()["id"])


def collect_garbage(api: ApiSession) -> dict[str, Any]:
    response = api.post_json(f"{BASE}/gc", {})
    assert response.status_code == 202, response.text
    return wait_for_run(api, response.json()["id"])


def wait_for_run(api: ApiSession, run_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        run: dict[str, Any] = api.get(f"{api.base_url}{BASE}/runs/{run_id}", timeout=30).json()
        if run["status"] != "running":
            return run
        time.sleep(0.1)
    raise TimeoutError(f"run {run_id} did not finish within {RUN_TIMEOUT} s")


def tag_entries(plan_document: dict[str, Any], repository: str) -> set[str]:
    """Return the tags of ``repository`` that the plan deletes."""
    return {
        entry["tag"]
        for entry in plan_document["entries"]
        if entry["kind"] == "tag" and entry["repository"] == repository
    }


def storage_dir(service: RunningService) -> Path:
    return service.data_dir / "registry" / "storage"


def storage_bytes(service: RunningService) -> int:
    """Total size of the regular files of the embedded registry's storage."""
    return _file_bytes(storage_dir(service))


def blob_store_bytes(service: RunningService) -> int:
    """Total size of the blob data files, the content the registry stores once per digest."""
    return _file_bytes(storage_dir(service) / "docker" / "registry" / "v2" / "blobs")


def catalog(service: RunningService) -> list[str]:
    response = service.registry_request("GET", "/v2/_catalog")
    assert response.status_code == 200, response.text
    repositories: list[str] = response.json()["repositories"]
    return repositories


def store_records(service: RunningService, *records: Base) -> None:
    """Write records straight into the service's SQLite database.

    Tests use it for records that the API now rejects but that an older
    version stored, such as a schedule whose cron expression matches no date.
    """
    engine = create_database_engine(f"sqlite:///{service.data_dir / 'state.db'}")
    try:
        with transaction(session_factory(engine)) as session:
            session.add_all(records)
    finally:
        engine.dispose()


def _file_bytes(root: Path) -> int:
    total = 0
    for directory, _subdirectories, files in os.walk(root):
        for name in files:
            status = os.lstat(os.path.join(directory, name))
            if stat.S_ISREG(status.st_mode):
                total += status.st_size
    return total
