"""Cleanup schedules: stored, validated, fired by the service's scheduler, and recorded as runs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nerve_registry.store.cleanup import ScheduleRecord
from tests.support import oci
from tests.support.cleanup import put_policy, store_records, wait_for_run
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


@pytest.mark.parametrize("expression", ["0 3 30 2 *", "0 0 31 4 *", "0 0 30 2 * 15"])
def test_never_firing_cron_stores_nothing(admin: ApiSession, expression: str) -> None:
    response = _put_schedule(admin, "never", {"cron": expression, "action": "gc"})
    fetched = admin.get(f"{admin.base_url}{BASE}/schedules/never", timeout=30)
    listed = admin.get(f"{admin.base_url}{BASE}/schedules", timeout=30)

    assert response.status_code == 400
    assert "'cron'" in response.json()["message"]
    assert "matches no date" in response.json()["message"]
    assert fetched.status_code == 404
    assert listed.status_code == 200
    assert listed.json()["schedules"] == []


def test_stored_bad_schedule_is_skipped(fresh_service: RunningService, admin: ApiSession) -> None:
    # As stored by an older version, or before the time zone database dropped a zone.
    store_records(
        fresh_service,
        ScheduleRecord(
            name="a-never", cron="0 3 30 2 *", timezone="UTC", action="gc", enabled=True
        ),
        ScheduleRecord(
            name="a-zone", cron="* * * * * */2", timezone="Mars/Base", action="gc", enabled=True
        ),
    )

    _put_schedule(admin, "z-good", {"cron": "* * * * * */2", "action": "gc"})
    run = _wait_for_scheduled_run(admin, "schedule:z-good")
    admin.delete(f"{admin.base_url}{BASE}/schedules/z-good", timeout=30)
    wait_for_run(admin, run["id"])
    listed = admin.get(f"{admin.base_url}{BASE}/schedules", timeout=30)
    by_name = {entry["name"]: entry for entry in listed.json()["schedules"]}
    log = fresh_service.log_text()

    assert listed.status_code == 200
    assert by_name["a-never"]["nextRunAt"] is None
    assert "matches no date" in by_name["a-never"]["error"]
    assert by_name["a-zone"]["nextRunAt"] is None
    assert "'Mars/Base' is unknown" in by_name["a-zone"]["error"]
    assert "Skipped schedule a-never: The cron expression '0 3 30 2 *' matches no date" in log
    assert "Skipped schedule a-zone: The time zone 'Mars/Base' is unknown" in log
    assert "Checking the cleanup schedules failed" not in log


def test_schedule_unknown_policy_rejected(admin: ApiSession) -> None:
    response = _put_schedule(
        admin, "s7", {"cron": "0 3 * * *", "action": "prune", "policies": ["nonexistent"]}
    )
    fetched = admin.get(f"{admin.base_url}{BASE}/schedules/s7", timeout=30)

    assert response.status_code == 404
    assert response.json()["errorCode"] == "POLICY_NOT_FOUND"
    assert "'policies[0]'" in response.json()["message"]
    assert "nerve-registry policy list" in response.json()["message"]
    assert fetched.status_code == 404


def test_policy_of_schedule_not_deleted(admin: ApiSession) -> None:
    put_policy(admin, "ci", {"repositories": ["ci/**"], "keepLast": 5})
    _put_schedule(admin, "nightly", {"cron": "0 3 * * *", "action": "prune", "policies": ["ci"]})

    response = admin.delete(f"{admin.base_url}{BASE}/policies/ci", timeout=30)
    kept = admin.get(f"{admin.base_url}{BASE}/policies/ci", timeout=30)

    assert response.status_code == 409
    assert response.json()["errorCode"] == "POLICY_IN_USE"
    assert "nightly" in response.json()["message"]
    assert kept.status_code == 200


def test_failed_scheduled_run_logs_reason(fresh_service: RunningService, admin: ApiSession) -> None:
    # An older version stored schedules that name missing policies.
    store_records(
        fresh_service,
        ScheduleRecord(
            name="ghost-run",
            cron="* * * * * */2",
            timezone="UTC",
            action="prune",
            policies=["ghost"],
            enabled=True,
        ),
    )
    # Changing any schedule makes the scheduler load the schedules at once.
    _put_schedule(admin, "other", {"cron": "0 3 * * *", "action": "gc"})

    run = _wait_for_scheduled_run(admin, "schedule:ghost-run")
    admin.delete(f"{admin.base_url}{BASE}/schedules/ghost-run", timeout=30)
    finished = wait_for_run(admin, run["id"])
    log = fresh_service.log_text()

    assert finished["status"] == "failed"
    assert "Retention policy 'ghost' not found" in finished["message"]
    assert (
        f"WARNING nerve_registry.api.cleanup_records: Cleanup run {run['id']} ended: failed: "
        "Making the prune plan failed: Retention policy 'ghost' not found" in log
    )


def test_schedule_list_shows_manual_run(fresh_service: RunningService, admin: ApiSession) -> None:
    _put_schedule(admin, "weekly-gc", {"cron": "0 3 * * 0", "action": "gc"})

    started = admin.post_json(f"{BASE}/schedules/weekly-gc/run", {})
    finished = wait_for_run(admin, started.json()["id"])
    listed = admin.get(f"{admin.base_url}{BASE}/schedules", timeout=30).json()["schedules"]

    assert listed[0]["lastRun"]["id"] == finished["id"]
    assert listed[0]["lastRun"]["status"] == "succeeded"
    assert listed[0]["lastRun"]["startedAt"] == finished["startedAt"]


def test_schedule_run_rejects_unknown_field(admin: ApiSession) -> None:
    _put_schedule(admin, "weekly-gc", {"cron": "0 3 * * 0", "action": "gc"})

    response = admin.post_json(f"{BASE}/schedules/weekly-gc/run", {"dryRun": True})
    runs = _runs(admin)

    assert response.status_code == 400
    assert "'dryRun'" in response.json()["message"]
    assert runs == []


def _wait_for_scheduled_run(api: ApiSession, trigger: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        # The schedule may fire again before the test deletes it: take its first run.
        matching = [run for run in _runs(api) if run["triggeredBy"] == trigger]
        if matching:
            return min(matching, key=lambda run: int(run["id"]))
        time.sleep(0.2)
    raise TimeoutError(f"no run triggered by {trigger} appeared")
