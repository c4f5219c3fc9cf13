"""Cleanup schedules: stored, validated, fired by the service's scheduler, and recorded as runs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import oci
from tests.support.cleanup import put_policy, wait_for_run
from tests.support.service import ApiSession, RunningService

BASE = "/nerve/registry"


@pytest.fixture
def admin(fresh_service: RunningService) -> Iterator[ApiSession]:
    session = fresh_service.api()
    yield session
    session.close()


def _put_schedule(api: ApiSession, name: str, body: dict[str, Any]) -> Any:
    return api.put(f"{api.base_url}{BASE}/schedules/{name}", json=body, timeout=30)


def _runs(api: ApiSession) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = api.get(f"{api.base_url}{BASE}/runs", timeout=30).json()["runs"]
    return runs


def test_schedule_fires_and_records_run(
    fresh_service: RunningService, admin: ApiSession, oci_layout: Path
) -> None:
    for index in range(3):
        oci.write_image(oci_layout, f"b{index}", created=f"2024-0{index + 1}-01T00:00:00Z")
        fresh_service.push(oci_layout, f"b{index}", f"ci/app:b{index}")
    put_policy(admin, "ci", {"repositories": ["ci/**"], "keepLast": 1})

    # Six fields: the last one is seconds, so this fires within two seconds.
    created = _put_schedule(admin, "nightly", {"cron": "* * * * * */2", "action": "prune-gc"})
    run = _wait_for_scheduled_run(admin, "schedule:nightly")
    admin.delete(f"{admin.base_url}{BASE}/schedules/nightly", timeout=30)
    finished = wait_for_run(admin, run["id"])
    tags = admin.registry_call("image-tags", {"image": "ci/app"}).json()["tags"]

    assert created.status_code == 201
    assert created.json()["nextRunAt"] is not None
    assert finished["kind"] == "prune-gc"
    assert finished["status"] == "succeeded"
    assert {entry["tag"] for entry in finished["deleted"]} == {"b0", "b1"}
    assert finished["freedBytes"] is not None
    assert [entry["tag"] for entry in tags] == ["b2"]


def test_schedule_run_now(fresh_service: RunningService, admin: ApiSession) -> None:
    _put_schedule(admin, "weekly-gc", {"cron": "0 3 * * 0", "action": "gc"})

    started = admin.post_json(f"{BASE}/schedules/weekly-gc/run", {})
    finished = wait_for_run(admin, started.json()["id"])

    assert started.status_code == 202
    assert finished["kind"] == "gc"
    assert finished["triggeredBy"] == "account:admin (schedule weekly-gc)"
    assert finished["status"] == "succeeded"


def test_schedule_lists_next_run(admin: ApiSession) -> None:
    _put_schedule(
        admin,
        "local",
        {"cron": "30 2 * * *", "timezone": "Europe/Vienna", "action": "prune", "enabled": True},
    )

    listed = admin.get(f"{admin.base_url}{BASE}/schedules", timeout=30).json()["schedules"]

    assert [entry["name"] for entry in listed] == ["local"]
    assert listed[0]["timezone"] == "Europe/Vienna"
    assert listed[0]["nextRunAt"].endswith(("00:30:00Z", "01:30:00Z"))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"cron": "every night", "action": "gc"}, "cron"),
        ({"cron": "0 3 * *", "action": "gc"}, "cron"),
        ({"cron": "0 3 * * *", "action": "gc", "timezone": "Mars/Base"}, "timezone"),
        ({"cron": "0 3 * * *", "action": "delete-all"}, "action"),
        (
            {"cron": "0 3 * * *", "action": "prune", "untaggedOlderThan": "soon"},
            "untaggedOlderThan",
        ),
    ],
)
def test_invalid_schedule_names_field(
    admin: ApiSession, body: dict[str, object], field: str
) -> None:
    response = _put_schedule(admin, "bad", body)

    assert response.status_code == 400
    assert f"'{field}'" in response.json()["message"]


def _wait_for_scheduled_run(api: ApiSession, trigger: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        # The schedule may fire again before the test deletes it: take its first run.
        matching = [run for run in _runs(api) if run["triggeredBy"] == trigger]
        if matching:
            return min(matching, key=lambda run: int(run["id"]))
        time.sleep(0.2)
    raise TimeoutError(f"no run triggered by {trigger} appeared")
