"""Garbage collection and untagged cleanup: space comes back and nothing kept is lost.

Each test starts its own service, so the storage holds only what the test pushed.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import oci
from tests.support.cleanup import (
    apply,
    blob_store_bytes,
    catalog,
    collect_garbage,
    plan,
    put_policy,
    storage_bytes,
    wait_for_run,
)
from tests.support.service import (
    ApiSession,
    RunningService,
    running_service,
    start_service,
    stop_service,
)
from tests.support.skopeo import SkopeoError

BASE = "/nerve/registry"

# Runs the real collector only after the test creates GATE_DIR/release, so that the
# test can push while collection is in progress. Everything else runs unchanged.
GATED_REGISTRY = """#!/bin/sh
if [ "$1" = "garbage-collect" ]; then
    touch "$GATE_DIR/started"
    while [ ! -e "$GATE_DIR/release" ]; do sleep 0.05; done
fi
exec {binary} "$@"
"""


@pytest.fixture
def admin(fresh_service: RunningService) -> Iterator[ApiSession]:
    session = fresh_service.api()
    yield session
    session.close()


def _push_builds(service: RunningService, layout: Path, repository: str, count: int) -> None:
    for index in range(count):
        tag = f"b{index}"
        oci.write_image(
            layout, tag, created=f"2024-0{index + 1}-01T00:00:00Z", seed=f"{repository}:{tag}"
        )
        service.push(layout, tag, f"{repository}:{tag}")


def _tags_of(api: ApiSession, repository: str) -> dict[str, str]:
    response = api.registry_call("image-tags", {"image": repository})
    if response.status_code == 404:
        return {}
    return {entry["tag"]: entry["digest"] for entry in response.json()["tags"]}


def test_gc_frees_planned_bytes(
    fresh_service: RunningService, admin: ApiSession, oci_layout: Path, tmp_path: Path
) -> None:
    _push_builds(fresh_service, oci_layout, "ci/app", 4)
    kept_before = {tag: digest for tag, digest in _tags_of(admin, "ci/app").items()}
    put_policy(admin, "ci", {"repositories": ["ci/**"], "keepLast": 2})
    blobs_before_prune = blob_store_bytes(fresh_service)

    prune_plan = plan(admin, {})
    prune_run = apply(admin, prune_plan["id"])
    storage_before_gc = storage_bytes(fresh_service)
    gc_run = collect_garbage(admin)
    storage_after_gc = storage_bytes(fresh_service)

    assert prune_run["status"] == "succeeded"
    assert gc_run["status"] == "succeeded"
    assert prune_plan["freedBytes"] > 0
    assert blobs_before_prune - blob_store_bytes(fresh_service) == prune_plan["freedBytes"]
    assert storage_before_gc - storage_after_gc == gc_run["freedBytes"]
    assert gc_run["collection"]["storageBytesAfter"] == storage_after_gc
    kept_after = _tags_of(admin, "ci/app")
    assert kept_after == {tag: kept_before[tag] for tag in ("b2", "b3")}
    for tag, digest in kept_after.items():
        fresh_service.pull(f"ci/app:{tag}", tmp_path / "pulled", tag)
        assert oci.layout_tags(tmp_path / "pulled")[tag] == digest


def test_prune_with_gc_in_one_run(
    fresh_service: RunningService, admin: ApiSession, oci_layout: Path
) -> None:
    _push_builds(fresh_service, oci_layout, "ci/app", 3)
    put_policy(admin, "ci", {"repositories": ["ci/**"], "keepLast": 1})
    blobs_before = blob_store_bytes(fresh_service)

    prune_plan = plan(admin, {})
    run = apply(admin, prune_plan["id"], gc=True)

    assert run["kind"] == "prune-gc"
    assert run["status"] == "succeeded"
    assert run["progress"] == {"done": 3, "total": 3}
    assert run["freedBytes"] >= prune_plan["freedBytes"]
    assert blobs_before - blob_store_bytes(fresh_service) == prune_plan["freedBytes"]


def test_gc_keeps_index_children(
    fresh_service: RunningService, admin: ApiSession, oci_layout: Path, tmp_path: Path
) -> None:
    index = oci.write_index(oci_layout, "multi", created="2024-06-01T00:00:00Z", seed="multi")
    fresh_service.push(oci_layout, "multi", "apps/multi:v2", all_images=True)
    oci.write_index(oci_layout, "old", created="2024-01-01T00:00:00Z", seed="old")
    fresh_service.push(oci_layout, "old", "apps/multi:v1", all_images=True)
    put_policy(admin, "apps", {"repositories": ["apps/*"], "keepLast": 1})

    run = apply(admin, plan(admin, {})["id"], gc=True)
    fresh_service.pull("apps/multi:v2", tmp_path / "pulled", "v2", all_images=True)
    status = admin.registry_call(
        "check-images-status",
        {"images": [f"apps/multi@{child.manifest_digest}" for child in index.children]},
    )

    assert run["status"] == "succeeded"
    assert [entry["tag"] for entry in run["deleted"]] == ["v1"]
    assert oci.layout_tags(tmp_path / "pulled") == {"v2": index.index_digest}
    assert [entry["status"] for entry in status.json()["images"]] == ["available", "available"]


def test_untagged_cleanup_empties_catalog(
    fresh_service: RunningService, admin: ApiSession, oci_layout: Path
) -> None:
    # Overwriting v1 leaves the first image untagged; deleting v1 then leaves no tag at all.
    oci.write_image(oci_layout, "first", seed="first")
    oci.write_image(oci_layout, "second", seed="second")
    fresh_service.push(oci_layout, "first", "old/app:v1")
    fresh_service.push(oci_layout, "second", "old/app:v1")
    admin.registry_call("delete-image-tag", {"image": "old/app", "tag": "v1"})
    _push_builds(fresh_service, oci_layout, "live/app", 1)

    report = admin.get(f"{admin.base_url}{BASE}/untagged", timeout=60).json()
    cleanup_plan = plan(admin, {"policies": [], "untaggedOlderThan": "0s"})
    run = apply(admin, cleanup_plan["id"], gc=True)

    assert [entry["repository"] for entry in report["manifests"]] == ["old/app"]
    assert report["repositories"] == [{"name": "old/app", "untaggedManifests": 1}]
    assert [entry["kind"] for entry in cleanup_plan["entries"]] == ["manifest", "repository"]
    assert run["status"] == "succeeded"
    assert catalog(fresh_service) == ["live/app"]
    assert run["freedBytes"] > 0


def test_policy_empties_repository(
    fresh_service: RunningService, admin: ApiSession, oci_layout: Path
) -> None:
    _push_builds(fresh_service, oci_layout, "branches/feature", 2)
    _push_builds(fresh_service, oci_layout, "branches/main", 1)
    put_policy(
        admin,
        "branches",
        {"repositories": ["branches/feature"], "keepLast": 0, "untaggedOlderThan": "0s"},
    )

    cleanup_plan = plan(admin, {})
    run = apply(admin, cleanup_plan["id"])

    assert [entry["kind"] for entry in cleanup_plan["entries"]] == ["tag", "tag", "repository"]
    assert run["status"] == "succeeded"
    assert catalog(fresh_service) == ["branches/main"]


def test_untagged_keeps_children_of_tagged_index(
    fresh_service: RunningService, admin: ApiSession, oci_layout: Path
) -> None:
    oci.write_index(oci_layout, "multi", seed="multi")
    fresh_service.push(oci_layout, "multi", "apps/multi:v1", all_images=True)

    report = admin.get(f"{admin.base_url}{BASE}/untagged", timeout=60).json()
    cleanup_plan = plan(admin, {"policies": [], "untaggedOlderThan": "0s"})

    assert report["manifests"] == []
    assert cleanup_plan["entries"] == []


def _gated_registry(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """Put GATED_REGISTRY first on PATH; return the gate directory and the environment."""
    gate = tmp_path / "gate"
    gate.mkdir()
    wrapper_dir = tmp_path / "bin"
    wrapper_dir.mkdir()
    wrapper = wrapper_dir / "docker-registry"
    wrapper.write_text(GATED_REGISTRY.format(binary="/usr/bin/docker-registry"))
    wrapper.chmod(0o755)
    return gate, {"PATH": f"{wrapper_dir}:{os.environ['PATH']}", "GATE_DIR": str(gate)}


def test_push_during_gc_fails_then_works(tmp_path: Path, oci_layout: Path) -> None:
    gate, env = _gated_registry(tmp_path)

    with running_service(tmp_path / "service", env=env) as service:
        api = service.api()
        _push_builds(service, oci_layout, "ci/app", 1)
        oci.write_image(oci_layout, "late", seed="late")

        started = api.post_json(f"{BASE}/gc", {})
        _wait_for_file(gate / "started")
        maintenance = api.get(f"{api.base_url}{BASE}/maintenance", timeout=30).json()
        with pytest.raises(SkopeoError) as refused:
            service.push(oci_layout, "late", "ci/app:late")
        deletion = api.registry_call("delete-image-tag", {"image": "ci/app", "tag": "b0"})
        (gate / "release").touch()
        run = wait_for_run(api, started.json()["id"])
        service.push(oci_layout, "late", "ci/app:late")
        tags = _tags_of(api, "ci/app")

    assert maintenance["active"] is True
    assert maintenance["registryReadOnly"] is True
    # The token endpoint refuses the push grant before the read-only registry would (405).
    assert "503 (Service Unavailable)" in refused.value.stderr
    assert deletion.status_code == 503
    assert deletion.json()["errorCode"] == "REGISTRY_MAINTENANCE"
    assert deletion.headers["Retry-After"] == "60"
    assert run["status"] == "succeeded"
    assert tags.keys() == {"b0", "late"}


def test_gc_while_running_is_rejected(tmp_path: Path, oci_layout: Path) -> None:
    gate, env = _gated_registry(tmp_path)

    with running_service(tmp_path / "service", env=env) as service:
        api = service.api()
        _push_builds(service, oci_layout, "ci/app", 1)
        first = api.post_json(f"{BASE}/gc", {})
        _wait_for_file(gate / "started")
        second = api.post_json(f"{BASE}/gc", {})
        (gate / "release").touch()
        wait_for_run(api, first.json()["id"])

    assert second.status_code == 409
    assert second.json()["errorCode"] == "RUN_IN_PROGRESS"


def test_maintenance_on_refuses_push(
    fresh_service: RunningService, admin: ApiSession, oci_layout: Path
) -> None:
    oci.write_image(oci_layout, "v1", seed="v1")

    on = admin.post_json(f"{BASE}/maintenance", {"active": True, "reason": "disk check"})
    with pytest.raises(SkopeoError):
        fresh_service.push(oci_layout, "v1", "ops/app:v1")
    gc_run = collect_garbage(admin)
    still_on = admin.get(f"{admin.base_url}{BASE}/maintenance", timeout=30).json()
    off = admin.post_json(f"{BASE}/maintenance", {"active": False})
    fresh_service.push(oci_layout, "v1", "ops/app:v1")

    assert on.json()["reason"] == "disk check"
    assert on.json()["registryReadOnly"] is True
    assert gc_run["status"] == "succeeded"
    assert still_on["active"] is True
    assert off.json()["active"] is False
    assert _tags_of(admin, "ops/app").keys() == {"v1"}


def test_runs_list_newest_first(fresh_service: RunningService, admin: ApiSession) -> None:
    first = collect_garbage(admin)
    second = collect_garbage(admin)

    listed = admin.get(f"{admin.base_url}{BASE}/runs", params={"limit": 5}, timeout=30).json()

    assert first["status"] == "succeeded"
    assert second["collection"]["freedBytes"] == 0
    assert [run["id"] for run in listed["runs"]] == [second["id"], first["id"]]
    assert listed["runs"][0]["triggeredBy"] == "account:admin"


def test_gc_rejects_unknown_field(fresh_service: RunningService, admin: ApiSession) -> None:
    rejected = admin.post_json(f"{BASE}/gc", {"dryRun": True})
    runs_after_rejected = admin.get(f"{admin.base_url}{BASE}/runs", timeout=30).json()["runs"]
    without_body = admin.post(f"{admin.base_url}{BASE}/gc", timeout=30)
    wait_for_run(admin, without_body.json()["id"])

    assert rejected.status_code == 400
    assert "'dryRun'" in rejected.json()["message"]
    assert runs_after_rejected == []
    assert without_body.status_code == 202


def test_maintenance_survives_restart(tmp_path: Path, oci_layout: Path) -> None:
    data_dir = tmp_path / "service"
    oci.write_image(oci_layout, "v1", seed="v1")
    with running_service(data_dir) as first:
        first.api().post_json(f"{BASE}/maintenance", {"active": True, "reason": "disk swap"})
        first_log_length = len(first.log_text())

    with running_service(data_dir) as second:
        api = second.api()
        restored = api.get(f"{api.base_url}{BASE}/maintenance", timeout=30).json()
        with pytest.raises(SkopeoError):
            second.push(oci_layout, "v1", "ops/app:v1")
        # Every service in the data directory appends to the same log file.
        log = second.log_text()[first_log_length:]
        api.post_json(f"{BASE}/maintenance", {"active": False})

    with running_service(data_dir) as third:
        api = third.api()
        after_off = api.get(f"{api.base_url}{BASE}/maintenance", timeout=30).json()
        third.push(oci_layout, "v1", "ops/app:v1")

    assert restored["active"] is True
    assert restored["reason"] == "disk swap"
    assert restored["operatorHold"] is True
    assert restored["registryReadOnly"] is True
    assert "Restored the operator's maintenance" in log
    assert "disk swap. The registry stays read-only" in log
    # The registry started read-only, without a read-write start before the switch.
    assert "(read-only: False" not in log
    assert after_off["active"] is False


@pytest.mark.parametrize("with_prune", [False, True])
def test_service_stop_interrupts_run(tmp_path: Path, oci_layout: Path, with_prune: bool) -> None:
    gate, env = _gated_registry(tmp_path)
    data_dir = tmp_path / "service"
    service = start_service(data_dir, env=env)
    try:
        api = service.api()
        _push_builds(service, oci_layout, "ci/app", 2)
        if with_prune:
            put_policy(api, "ci", {"repositories": ["ci/**"], "keepLast": 1})
            started = api.post_json(
                f"{BASE}/prune/apply", {"planId": plan(api, {})["id"], "gc": True}
            )
        else:
            started = api.post_json(f"{BASE}/gc", {})
        _wait_for_file(gate / "started")
        # Ctrl-C: the service stops while garbage collection waits at the gate.
        service.process.send_signal(signal.SIGINT)
        service.process.wait(timeout=60)
        collectors = _collector_processes(data_dir)
    finally:
        (gate / "release").touch()
        stop_service(service)

    with running_service(data_dir) as restarted:
        api = restarted.api()
        run = api.get(f"{api.base_url}{BASE}/runs/{started.json()['id']}", timeout=30).json()
        log = restarted.log_text()

    assert run["status"] == "interrupted"
    assert run["message"] == "The service stopped while this run was in progress."
    assert collectors == []
    assert "Marked 1 cleanup runs as interrupted" not in log


def _collector_processes(data_dir: Path) -> list[int]:
    """Return the pids of garbage collectors that still use the service's registry config."""
    config = str(data_dir / "registry" / "config.yml").encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            arguments = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"garbage-collect" in arguments and config in arguments:
            pids.append(int(entry.name))
    return pids


def _wait_for_file(path: Path) -> None:
    deadline = time.monotonic() + 60
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear")
        time.sleep(0.05)
