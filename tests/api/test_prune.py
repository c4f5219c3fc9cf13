"""Prune plans and their application: each rule selects exactly the expected tags.

The tests share one service of their own, so that the bytes a plan counts
depend only on the images pushed here. Each test works in its own repository
and names its policy in the plan request.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nerve_registry.store.cleanup import PolicyRecord
from tests.support import oci
from tests.support.cleanup import apply, plan, put_policy, store_records, tag_entries
from tests.support.service import ApiSession, RunningService, running_service

BASE = "/nerve/registry"


@pytest.fixture(scope="module")
def prune_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    with running_service(tmp_path_factory.mktemp("prune-service")) as running:
        yield running


@pytest.fixture
def admin(prune_service: RunningService) -> Iterator[ApiSession]:
    session = prune_service.api()
    yield session
    session.close()


@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    """A policy name and repository suffix derived from the test's name."""
    return re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:60]


def _push_builds(
    service: RunningService, layout: Path, repository: str, months: dict[str, int]
) -> dict[str, oci.ImageInfo]:
    """Push one image per tag, created on the first day of the given month of 2024."""
    images = {}
    for tag, month in months.items():
        images[tag] = oci.write_image(
            layout, tag, created=f"2024-{month:02d}-01T00:00:00Z", seed=f"{repository}:{tag}"
        )
        service.push(layout, tag, f"{repository}:{tag}")
    return images


def _tags_of(api: ApiSession, repository: str) -> dict[str, str]:
    response = api.registry_call("image-tags", {"image": repository})
    if response.status_code == 404:
        return {}
    return {entry["tag"]: entry["digest"] for entry in response.json()["tags"]}


def test_keep_last_selects_oldest(
    prune_service: RunningService, admin: ApiSession, oci_layout: Path, name: str
) -> None:
    repository = f"prune/{name}"
    _push_builds(prune_service, oci_layout, repository, {"b1": 1, "b2": 4, "b3": 2, "b4": 3})
    put_policy(admin, name, {"repositories": [repository], "keepLast": 2})

    result = plan(admin, {"policies": [name]})

    assert tag_entries(result, repository) == {"b1", "b3"}
    assert {kept["tag"] for kept in result["kept"] if kept["repository"] == repository} == {
        "b2",
        "b4",
    }


def test_older_than_selects_old_tags(
    prune_service: RunningService, admin: ApiSession, oci_layout: Path, name: str
) -> None:
    repository = f"prune/{name}"
    old = oci.write_image(oci_layout, "old", created="2020-01-01T00:00:00Z", seed=name)
    new = oci.write_image(oci_layout, "new", created="2099-01-01T00:00:00Z", seed=name)
    prune_service.push(oci_layout, "old", f"{repository}:old")
    prune_service.push(oci_layout, "new", f"{repository}:new")
    put_policy(admin, name, {"repositories": [repository], "olderThan": "365d"})

    result = plan(admin, {"policies": [name]})
    entries = [entry for entry in result["entries"] if entry["repository"] == repository]

    assert tag_entries(result, repository) == {"old"}
    assert entries[0]["digest"] == old.manifest_digest
    assert entries[0]["time"] == "2020-01-01T00:00:00Z"
    assert entries[0]["timeSource"] == "created"
    assert new.manifest_digest not in {entry["digest"] for entry in entries}


def test_include_exclude_select_by_regex(
    prune_service: RunningService, admin: ApiSession, oci_layout: Path, name: str
) -> None:
    repository = f"prune/{name}"
    months = {"pr-1": 1, "pr-2": 2, "pr-keep-3": 3, "main-1": 4}
    _push_builds(prune_service, oci_layout, repository, months)
    put_policy(
        admin,
        name,
        {
            "repositories": [repository],
            "keepLast": 0,
            "include": r"pr-.*",
            "exclude": r"pr-keep-.*",
        },
    )

    result = plan(admin, {"policies": [name]})

    assert tag_entries(result, repository) == {"pr-1", "pr-2"}


def test_protected_tag_never_selected(
    prune_service: RunningService, admin: ApiSession, oci_layout: Path, name: str
) -> None:
    repository = f"prune/{name}"
    _push_builds(prune_service, oci_layout, repository, {"v1": 1, "v2": 2, "v3": 3})
    put_policy(admin, name, {"repositories": [repository], "keepLast": 1, "protect": ["v1"]})

    result = plan(admin, {"policies": [name]})
    kept = {entry["tag"]: entry["reason"] for entry in result["kept"]}

    assert tag_entries(result, repository) == {"v2"}
    assert kept["v1"] == f"protected by policy '{name}'"


def test_plan_deletes_nothing(
    prune_service: RunningService, admin: ApiSession, oci_layout: Path, name: str
) -> None:
    repository = f"prune/{name}"
    _push_builds(prune_service, oci_layout, repository, {"b1": 1, "b2": 2})
    put_policy(admin, name, {"repositories": [repository], "keepLast": 0})

    plan(admin, {"policies": [name]})

    assert _tags_of(admin, repository).keys() == {"b1", "b2"}


def test_apply_deletes_exactly_plan(
    prune_service: RunningService, admin: ApiSession, oci_layout: Path, name: str
) -> None:
    repository = f"prune/{name}"
    images = _push_builds(prune_service, oci_layout, repository, {"b1": 1, "b2": 2, "b3": 3})
    put_policy(admin, name, {"repositories": [repository], "keepLast": 1})
    result = plan(admin, {"policies": [name]})
    # A tag pushed after the plan is outside it, even though the policy would now select it.
    late = oci.write_image(oci_layout, "b0", created="2023-01-01T00:00:00Z", seed=name)
    prune_service.push(oci_layout, "b0", f"{repository}:b0")

    run = apply(admin, result["id"])

    assert run["status"] == "succeeded"
    assert {entry["tag"] for entry in run["deleted"]} == {"b1", "b2"}
    assert _tags_of(admin, repository) == {
        "b3": images["b3"].manifest_digest,
        "b0": late.manifest_digest,
    }


def test_repushed_tag_is_skipped(
    prune_service: RunningService, admin: ApiSession, oci_layout: Path, name: str
) -> None:
    repository = f"prune/{name}"
    _push_builds(prune_service, oci_layout, repository, {"b1": 1, "b2": 2, "b3": 3})
    put_policy(admin, name, {"repositories": [repository], "keepLast": 1})
    result = plan(admin, {"policies": [name]})
    rebuilt = oci.write_image(oci_layout, "b1", created="2024-05-01T00:00:00Z", seed="rebuilt")
    prune_service.push(oci_layout, "b1", f"{repository}:b1")

    run = apply(admin, result["id"])

    assert run["status"] == "partial"
    assert [entry["tag"] for entry in run["skipped"]] == ["b1"]
    assert "now points at" in run["skipped"][0]["message"]
    assert [entry["tag"] for entry in run["deleted"]] == ["b2"]
    assert _tags_of(admin, repository)["b1"] == rebuilt.manifest_digest


def test_apply_twice_is_rejected(
    prune_service: RunningService, admin: ApiSession, oci_layout: Path, name: str
) -> None:
    repository = f"prune/{name}"
    _push_builds(prune_service, oci_layout, repository, {"b1": 1, "b2": 2})
    put_policy(admin, name, {"repositories": [repository], "keepLast": 1})
    result = plan(admin, {"policies": [name]})
    apply(admin, result["id"])

    second = admin.post_json(f"{BASE}/prune/apply", {"planId": result["id"]})

    assert second.status_code == 409
    assert second.json()["errorCode"] == "PLAN_ALREADY_APPLIED"


def test_apply_unknown_plan(admin: ApiSession) -> None:
    response = admin.post_json(f"{BASE}/prune/apply", {"planId": "0" * 32})

    assert response.status_code == 404
    assert response.json()["errorCode"] == "PLAN_NOT_FOUND"


def test_freed_bytes_exclude_shared_blobs(
    prune_service: RunningService, admin: ApiSession, oci_layout: Path, name: str
) -> None:
    repository = f"prune/{name}"
    # Same seed: both images share their layer; the configs differ by created time.
    old = oci.write_image(oci_layout, "old", created="2024-01-01T00:00:00Z", seed=name)
    new = oci.write_image(oci_layout, "new", created="2024-02-01T00:00:00Z", seed=name)
    prune_service.push(oci_layout, "old", f"{repository}:old")
    prune_service.push(oci_layout, "new", f"{repository}:new")
    put_policy(admin, name, {"repositories": [repository], "keepLast": 1})

    result = plan(admin, {"policies": [name]})
    entry = next(entry for entry in result["entries"] if entry["repository"] == repository)

    assert old.layer_digests == new.layer_digests
    assert entry["tag"] == "old"
    assert entry["freedBytes"] == old.manifest_size + old.config_size


def test_freed_bytes_exclude_other_repositories(
    prune_service: RunningService, admin: ApiSession, oci_layout: Path, name: str
) -> None:
    repository = f"prune/{name}"
    _push_builds(prune_service, oci_layout, repository, {"b1": 1, "b2": 2})
    prune_service.copy(f"{repository}:b1", f"prune-copies/{name}:b1")
    put_policy(admin, name, {"repositories": [repository], "keepLast": 1})

    result = plan(admin, {"policies": [name]})
    entry = next(entry for entry in result["entries"] if entry["repository"] == repository)

    assert entry["tag"] == "b1"
    assert entry["freedBytes"] == 0


def test_index_keeps_child_of_kept_tag(
    prune_service: RunningService,
    admin: ApiSession,
    oci_layout: Path,
    tmp_path: Path,
    name: str,
) -> None:
    repository = f"prune/{name}"
    index = oci.write_index(oci_layout, "multi", created="2024-06-01T00:00:00Z", seed=name)
    child = index.children[0]
    prune_service.push(oci_layout, "multi", f"{repository}:multi", all_images=True)
    # An older tag on one child alone: deleting it must not take the child from the index.
    prune_service.copy(f"{repository}@{child.manifest_digest}", f"{repository}:amd64-only")
    put_policy(admin, name, {"repositories": [repository], "keepLast": 0, "include": "amd64-only"})

    result = plan(admin, {"policies": [name]})
    entry = next(entry for entry in result["entries"] if entry["repository"] == repository)
    run = apply(admin, result["id"])
    prune_service.pull(f"{repository}:multi", tmp_path / "pulled", "multi", all_images=True)

    assert tag_entries(result, repository) == {"amd64-only"}
    assert entry["freedBytes"] == 0
    assert run["status"] == "succeeded"
    assert oci.layout_tags(tmp_path / "pulled") == {"multi": index.index_digest}


def test_disabled_policy_applies_only_by_name(
    prune_service: RunningService, admin: ApiSession, oci_layout: Path, name: str
) -> None:
    repository = f"prune/{name}"
    _push_builds(prune_service, oci_layout, repository, {"b1": 1, "b2": 2})
    put_policy(admin, name, {"repositories": [repository], "keepLast": 1, "enabled": False})

    by_default = plan(admin, {})
    by_name = plan(admin, {"policies": [name]})

    assert tag_entries(by_default, repository) == set()
    assert tag_entries(by_name, repository) == {"b1"}


def test_unknown_policy_in_plan(admin: ApiSession) -> None:
    response = admin.post_json(f"{BASE}/prune/plan", {"policies": ["does-not-exist"]})

    assert response.status_code == 404
    assert response.json()["errorCode"] == "POLICY_NOT_FOUND"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"repositories": []}, "repositories"),
        ({"repositories": ["Ci/App"]}, "repositories[0]"),
        ({"repositories": ["ci/**"], "olderThan": "30 days"}, "olderThan"),
        ({"repositories": ["ci/**"], "include": "("}, "include"),
        ({"repositories": ["ci/**"], "protect": ["-bad"]}, "protect[0]"),
        ({"repositories": ["ci/**"], "keepLast": -1}, "keepLast"),
        ({"repositories": ["ci/**"], "timeSource": "built"}, "timeSource"),
        ({"repositories": ["ci/**"], "keepLsat": 3}, "keepLsat"),
    ],
)
def test_invalid_policy_names_field(admin: ApiSession, body: dict[str, object], field: str) -> None:
    response = admin.put(f"{admin.base_url}{BASE}/policies/bad-input", json=body, timeout=30)

    assert response.status_code == 400
    assert f"'{field}'" in response.json()["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"repositories": ["ci/**"], "olderThan": "100000000000w"}, "olderThan"),
        ({"repositories": ["ci/**"], "olderThan": "99999999999999999999w"}, "olderThan"),
        ({"repositories": ["ci/**"], "untaggedOlderThan": "100000000000w"}, "untaggedOlderThan"),
        ({"repositories": ["ci/**"], "olderThan": "5214w3d"}, "olderThan"),
    ],
)
def test_huge_duration_names_maximum(
    admin: ApiSession, body: dict[str, object], field: str
) -> None:
    response = admin.put(f"{admin.base_url}{BASE}/policies/huge", json=body, timeout=30)

    assert response.status_code == 400
    assert f"'{field}'" in response.json()["message"]
    assert "the maximum is 36500 days" in response.json()["message"]


def test_plan_huge_untagged_duration(admin: ApiSession) -> None:
    response = admin.post_json(
        f"{BASE}/prune/plan", {"policies": [], "untaggedOlderThan": "100000000000w"}
    )

    assert response.status_code == 400
    assert "'untaggedOlderThan'" in response.json()["message"]


@pytest.mark.parametrize(
    ("field", "expression"),
    [
        ("include", "(?=release)r.*"),
        ("exclude", "(?!pr-).*"),
        ("include", "(?<=a)b"),
        ("exclude", r"(a)\1"),
    ],
)
def test_expression_outside_re2_rejected(admin: ApiSession, field: str, expression: str) -> None:
    body = {"repositories": ["ci/**"], "keepLast": 1, field: expression}

    response = admin.put(f"{admin.base_url}{BASE}/policies/lookaround", json=body, timeout=30)
    stored = admin.get(f"{admin.base_url}{BASE}/policies/lookaround", timeout=30)

    assert response.status_code == 400
    assert f"'{field}'" in response.json()["message"]
    assert "RE2" in response.json()["message"]
    assert stored.status_code == 404


def test_backtracking_include_stays_linear(
    prune_service: RunningService, admin: ApiSession, oci_layout: Path, name: str
) -> None:
    repository = f"prune/{name}"
    # With a backtracking matcher, '(a+)+' against 40 a's and '-x' takes about 2**40 steps,
    # so the plan request below would time out.
    tag = "a" * 40 + "-x"
    oci.write_image(oci_layout, tag, seed=name)
    prune_service.push(oci_layout, tag, f"{repository}:{tag}")
    put_policy(admin, name, {"repositories": [repository], "keepLast": 0, "include": "(a+)+"})

    result = plan(admin, {"policies": [name]})
    kept = {entry["tag"]: entry["reason"] for entry in result["kept"]}

    assert tag_entries(result, repository) == set()
    assert kept[tag] == "not matched by include '(a+)+'"


def test_backtracking_repository_glob_stays_linear(
    prune_service: RunningService, admin: ApiSession, oci_layout: Path, name: str
) -> None:
    # A glob with many '*' becomes a backtracking regular expression in Python's re.
    repository = "a" * 60
    oci.write_image(oci_layout, "v1", seed=name)
    prune_service.push(oci_layout, "v1", f"{repository}:v1")
    put_policy(admin, name, {"repositories": ["*a" * 12 + "*b"], "keepLast": 0})

    result = plan(admin, {"policies": [name]})

    assert tag_entries(result, repository) == set()


def test_stored_lookaround_policy_reported(
    prune_service: RunningService, admin: ApiSession, name: str
) -> None:
    # Versions that matched with Python's re stored such expressions.
    store_records(
        prune_service,
        PolicyRecord(
            name=name,
            priority=100,
            repositories=["legacy/**"],
            keep_last=1,
            include="(?!keep-).*",
            protect=[],
            time_source="created",
            enabled=False,
        ),
    )

    response = admin.post_json(f"{BASE}/prune/plan", {"policies": [name]})

    assert response.status_code == 409
    assert response.json()["errorCode"] == "POLICY_INVALID"
    assert f"Retention policy '{name}'" in response.json()["message"]
    assert f"nerve-registry policy set {name}" in response.json()["message"]


@pytest.mark.parametrize(
    ("rules", "rules_text"),
    [
        ({"keepLast": 0}, "keepLast 0"),
        ({"olderThan": "0s"}, "olderThan 0s"),
        ({"keepLast": 0, "olderThan": "0s"}, "keepLast 0 and olderThan 0s"),
    ],
)
def test_policy_keeping_nothing_warns(
    prune_service: RunningService,
    admin: ApiSession,
    oci_layout: Path,
    name: str,
    rules: dict[str, object],
    rules_text: str,
) -> None:
    repository = f"prune/{name}"
    _push_builds(prune_service, oci_layout, repository, {"b1": 1, "b2": 2})
    put_policy(admin, name, {"repositories": [repository], **rules})

    result = plan(admin, {"policies": [name]})
    warnings = [warning for warning in result["warnings"] if f"'{name}'" in warning]

    assert tag_entries(result, repository) == {"b1", "b2"}
    assert len(warnings) == 1
    assert f"Policy '{name}' keeps no candidate tag ({rules_text})" in warnings[0]


def test_keep_last_zero_reason(
    prune_service: RunningService, admin: ApiSession, oci_layout: Path, name: str
) -> None:
    repository = f"prune/{name}"
    _push_builds(prune_service, oci_layout, repository, {"b1": 1})
    put_policy(admin, name, {"repositories": [repository], "keepLast": 0})

    result = plan(admin, {"policies": [name]})
    entry = next(entry for entry in result["entries"] if entry["repository"] == repository)

    assert entry["reason"] == f"policy '{name}': keepLast is 0, so no candidate is kept"


def test_policy_keeping_some_has_no_warning(
    prune_service: RunningService, admin: ApiSession, oci_layout: Path, name: str
) -> None:
    repository = f"prune/{name}"
    _push_builds(prune_service, oci_layout, repository, {"b1": 1, "b2": 2})
    put_policy(admin, name, {"repositories": [repository], "keepLast": 0, "olderThan": "30d"})

    result = plan(admin, {"policies": [name]})

    assert [warning for warning in result["warnings"] if f"'{name}'" in warning] == []


def test_policy_replaced_and_deleted(admin: ApiSession, name: str) -> None:
    put_policy(admin, name, {"repositories": ["a/*"], "keepLast": 3})
    replaced = admin.put(
        f"{admin.base_url}{BASE}/policies/{name}",
        json={"repositories": ["b/*"], "olderThan": "720h"},
        timeout=30,
    )
    deleted = admin.delete(f"{admin.base_url}{BASE}/policies/{name}", timeout=30)
    missing = admin.get(f"{admin.base_url}{BASE}/policies/{name}", timeout=30)

    assert replaced.status_code == 200
    assert replaced.json()["keepLast"] is None
    assert replaced.json()["olderThan"] == "30d"
    assert deleted.status_code == 204
    assert missing.status_code == 404


def test_policy_needs_admin(prune_service: RunningService, name: str) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "nerve_registry",
            "user",
            "add",
            "plain",
            "--password-stdin",
            "--data-dir",
            str(prune_service.data_dir),
        ],
        input="plain-password\n",
        text=True,
        check=True,
        capture_output=True,
    )
    session = ApiSession(prune_service.url)
    session.login("plain", "plain-password")

    response = session.get(f"{prune_service.url}{BASE}/policies", timeout=30)

    assert response.status_code == 403
    assert response.json()["errorCode"] == "PERMISSION_DENIED"
