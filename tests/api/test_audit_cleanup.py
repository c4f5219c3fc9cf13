"""Cleanup runs write their deletions and collections to the audit log."""

from __future__ import annotations

from pathlib import Path

from tests.support import oci
from tests.support.cleanup import apply, plan, put_policy
from tests.support.service import running_service


def test_prune_and_gc_audited(tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    with running_service(tmp_path / "service") as service:
        for index, tag in enumerate(["b1", "b2"]):
            oci.write_image(
                layout, tag, created=f"2024-0{index + 1}-01T00:00:00Z", seed=f"audit {tag}"
            )
            service.push(layout, tag, f"ci/app:{tag}")
        admin = service.api()
        put_policy(admin, "keep-one", {"repositories": ["ci/app"], "keepLast": 1})
        document = plan(admin, {"policies": ["keep-one"]})
        run = apply(admin, document["id"], gc=True)
        events = admin.get(f"{service.url}/nerve/registry/audit", timeout=10).json()["events"]

    deletions = [event for event in events if event["action"] == "tag.delete"]
    collections = [event for event in events if event["action"] == "gc.collect"]
    planned_digest = document["entries"][0]["digest"]
    assert run["status"] == "succeeded"
    assert [event["target"] for event in deletions] == ["ci/app:b1"]
    assert deletions[0]["digest"] == planned_digest
    assert deletions[0]["actor"] == "admin"
    assert deletions[0]["detail"] == f"cleanup run {run['id']}"
    assert len(collections) == 1
    assert "freed" in collections[0]["detail"]
