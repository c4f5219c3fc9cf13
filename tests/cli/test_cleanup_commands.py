"""The policy, prune, gc, runs and maintenance commands against a real service."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support import oci
from tests.support.cleanup import wait_for_run
from tests.support.service import RunningService


def _cli(service: RunningService, *arguments: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MS_URL": service.url,
        "MS_USR": "admin",
        "MS_PSW": service.admin_password,
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "nerve_registry", *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def _push_builds(service: RunningService, layout: Path, count: int) -> None:
    for index in range(count):
        oci.write_image(layout, f"b{index}", created=f"2024-0{index + 1}-01T00:00:00Z")
        service.push(layout, f"b{index}", f"ci/app:b{index}")


def test_prune_yes_deletes_planned_tags(fresh_service: RunningService, oci_layout: Path) -> None:
    _push_builds(fresh_service, oci_layout, 3)

    policy = _cli(fresh_service, "policy", "set", "ci", "-r", "ci/**", "--keep-last", "1")
    pruned = _cli(fresh_service, "prune", "--yes", "--gc")
    runs = _cli(fresh_service, "runs")
    tags = _cli(fresh_service, "tags", "ci/app")

    assert policy.returncode == 0, policy.stderr
    assert "Created policy 'ci'" in policy.stdout
    assert pruned.returncode == 0, pruned.stderr
    assert "ci/app" in pruned.stdout
    assert "not among the newest 1" in pruned.stdout
    assert "Garbage collection freed" in pruned.stdout
    assert "prune-gc" in runs.stdout
    assert "b2" in tags.stdout
    assert "b0" not in tags.stdout


def test_prune_dry_run_deletes_nothing(fresh_service: RunningService, oci_layout: Path) -> None:
    _push_builds(fresh_service, oci_layout, 2)
    _cli(fresh_service, "policy", "set", "ci", "-r", "ci/**", "--keep-last", "0")

    result = _cli(fresh_service, "prune", "--dry-run")
    tags = _cli(fresh_service, "tags", "ci/app")

    assert result.returncode == 0, result.stderr
    assert "b0" in result.stdout
    assert "b1" in result.stdout
    assert "b0" in tags.stdout


def test_prune_without_tty_needs_yes(fresh_service: RunningService, oci_layout: Path) -> None:
    _push_builds(fresh_service, oci_layout, 2)
    _cli(fresh_service, "policy", "set", "ci", "-r", "ci/**", "--keep-last", "0")

    result = _cli(fresh_service, "prune")

    assert result.returncode == 2
    assert "--yes" in result.stderr


def test_maintenance_on_off(fresh_service: RunningService) -> None:
    on = _cli(fresh_service, "maintenance", "on", "--reason", "disk swap")
    status = _cli(fresh_service, "maintenance", "status")
    off = _cli(fresh_service, "maintenance", "off")

    assert on.returncode == 0, on.stderr
    assert "disk swap" in status.stdout
    assert "read-only" in status.stdout
    assert "accepts pushes" in off.stdout


def test_invalid_policy_reports_field(fresh_service: RunningService) -> None:
    result = _cli(fresh_service, "policy", "set", "ci", "-r", "ci/**", "--older-than", "soon")

    assert result.returncode == 1
    assert "'olderThan'" in result.stderr


def test_runs_show_lists_deleted_entries(fresh_service: RunningService, oci_layout: Path) -> None:
    _push_builds(fresh_service, oci_layout, 3)
    _cli(fresh_service, "policy", "set", "ci", "-r", "ci/**", "--keep-last", "1")
    pruned = _cli(fresh_service, "prune", "--yes")
    run_id = _cli(fresh_service, "runs", "--json").stdout.split('"id": ', 1)[1].split(",", 1)[0]

    run_output = _cli(fresh_service, "runs", run_id)

    assert pruned.returncode == 0, pruned.stderr
    assert run_output.returncode == 0, run_output.stderr
    assert "ci/app:b0" in run_output.stdout
    assert "ci/app:b1" in run_output.stdout
    assert "Deleted 2 entries, skipped 0, failed 0." in run_output.stdout
    assert "Steps done: 2 of 2." in run_output.stdout
    assert "Run 'nerve-registry gc' to free the space" in run_output.stdout


def test_prune_gc_output_counts_deletions(fresh_service: RunningService, oci_layout: Path) -> None:
    _push_builds(fresh_service, oci_layout, 2)
    _cli(fresh_service, "policy", "set", "ci", "-r", "ci/**", "--keep-last", "1")

    pruned = _cli(fresh_service, "prune", "--yes", "--gc")

    assert pruned.returncode == 0, pruned.stderr
    assert "Deleted 1 entry, skipped 0, failed 0." in pruned.stdout
    assert "Steps done: 2 of 2." in pruned.stdout
    assert "steps done." not in pruned.stdout
    assert "nerve-registry gc" not in pruned.stdout


def test_run_without_deletions_has_no_gc_hint(
    fresh_service: RunningService, oci_layout: Path
) -> None:
    _push_builds(fresh_service, oci_layout, 2)
    api = fresh_service.api()
    api.put(
        f"{fresh_service.url}/nerve/registry/policies/ci",
        json={"repositories": ["ci/**"], "keepLast": 1},
        timeout=30,
    )
    planned = api.post_json("/nerve/registry/prune/plan", {}).json()
    # The tag goes before the plan is applied, so the run skips its only entry.
    api.registry_call("delete-image-tag", {"image": "ci/app", "tag": "b0"})
    started = api.post_json("/nerve/registry/prune/apply", {"planId": planned["id"]})
    run = wait_for_run(api, started.json()["id"])

    run_output = _cli(fresh_service, "runs", str(run["id"]))

    assert run["status"] == "partial"
    assert "skipped" in run_output.stdout
    assert "Deleted 0 entries, skipped 1, failed 0." in run_output.stdout
    assert "nerve-registry gc" not in run_output.stdout


def test_plan_keeping_nothing_warns(fresh_service: RunningService, oci_layout: Path) -> None:
    _push_builds(fresh_service, oci_layout, 1)
    _cli(fresh_service, "policy", "set", "ci", "-r", "ci/**", "--keep-last", "0")

    result = _cli(fresh_service, "prune", "--dry-run")

    assert result.returncode == 0, result.stderr
    assert "Warning: Policy 'ci' keeps no candidate tag (keepLast 0)" in result.stderr
    assert "1 entry;" in result.stderr
    assert "keepLast is 0" in result.stdout
    assert "newest 0" not in result.stdout


def test_prune_in_maintenance_fails_before_plan(
    fresh_service: RunningService, oci_layout: Path
) -> None:
    _push_builds(fresh_service, oci_layout, 2)
    _cli(fresh_service, "policy", "set", "ci", "-r", "ci/**", "--keep-last", "0")
    _cli(fresh_service, "maintenance", "on", "--reason", "disk swap")

    result = _cli(fresh_service, "prune", "--yes")
    dry_run = _cli(fresh_service, "prune", "--dry-run")
    log = fresh_service.log_text()

    assert result.returncode == 1
    assert "read-only maintenance" in result.stderr
    assert "disk swap" in result.stderr
    assert dry_run.returncode == 0, dry_run.stderr
    assert log.count("made prune plan") == 1


def test_errors_name_field_and_command(fresh_service: RunningService) -> None:
    huge = _cli(
        fresh_service,
        "policy",
        "set",
        "bad12",
        "-r",
        "ci/**",
        "--older-than",
        "99999999999999999999w",
    )
    unknown = _cli(fresh_service, "prune", "--dry-run", "--policy", "nonexistent")

    assert huge.returncode == 1
    assert "'olderThan'" in huge.stderr
    assert "the maximum is 36500 days" in huge.stderr
    assert unknown.returncode == 1
    assert "nerve-registry policy list" in unknown.stderr


def test_schedule_list_shows_manual_run(fresh_service: RunningService) -> None:
    _cli(fresh_service, "schedule", "set", "nightly", "--cron", "0 3 * * *", "--action", "gc")
    started = _cli(fresh_service, "schedule", "run", "nightly")
    run_id = started.stdout.split("Started run ", 1)[1].split(";", 1)[0]
    wait_for_run(fresh_service.api(), int(run_id))

    listed = _cli(fresh_service, "schedule", "list")

    assert started.returncode == 0, started.stderr
    assert f"(run {run_id}, succeeded)" in listed.stdout


def test_cleanup_help_explains_options() -> None:
    # Joined into one line, because click wraps help text at the terminal width.
    schedule_help = " ".join(_cli_offline("schedule", "set", "--help").stdout.split())
    runs_help = " ".join(_cli_offline("runs", "--help").stdout.split())

    assert "pushed longer ago than this duration" in schedule_help
    assert "Default: every enabled policy" in schedule_help
    assert "Maximum number of runs to list" in runs_help


def _cli_offline(*arguments: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "nerve_registry", *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
