"""The policy, prune, gc, runs and maintenance commands against a real service."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support import oci
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
