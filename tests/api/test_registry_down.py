"""The embedded registry dies while the service runs: 503 with a clear message, then recovery."""

import os
import signal
import time
from pathlib import Path

from requests import Response

from tests.support import oci
from tests.support.service import ApiSession, running_service

RECOVERY_TIMEOUT = 30.0


def _wait_for_tags(api: ApiSession, image: str) -> Response | None:
    deadline = time.monotonic() + RECOVERY_TIMEOUT
    while time.monotonic() < deadline:
        response = api.registry_call("image-tags", {"image": image})
        if response.status_code == 200:
            return response
        time.sleep(0.2)
    return None


def test_registry_killed_then_restarted(tmp_path: Path) -> None:
    with running_service(tmp_path / "service") as service:
        layout = tmp_path / "layout"
        oci.write_image(layout, "v1")
        service.push(layout, "v1", "team/app:v1")
        api = service.api()
        old_pid = service.registry_pid()

        # The supervisor waits a second before it restarts the registry, and the
        # first request after each kill fails within that second.
        os.kill(old_pid, signal.SIGKILL)
        during = api.registry_call("image-tags", {"image": "team/app"})
        _wait_for_tags(api, "team/app")
        os.kill(service.registry_pid(), signal.SIGKILL)
        health_during = api.get(f"{service.url}/health", timeout=10)
        recovered = _wait_for_tags(api, "team/app")
        new_pid = service.registry_pid()
        log = service.log_text()

    assert during.status_code == 503
    assert during.json()["errorCode"] == "REGISTRY_UNAVAILABLE"
    assert "not reachable" in during.json()["message"]
    assert health_during.status_code == 503
    assert health_during.json()["registry"] == "down"
    assert recovered is not None
    assert [entry["tag"] for entry in recovered.json()["tags"]] == ["v1"]
    assert new_pid != old_pid
    assert "Traceback" not in log
