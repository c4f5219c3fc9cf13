"""Restarts: a killed service's registry is stopped, and a data directory serves one service."""

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.support import oci
from tests.support.ports import free_port
from tests.support.service import running_service, start_service, stop_service


def test_restart_after_service_killed(tmp_path: Path) -> None:
    data_dir = tmp_path / "service"
    first = start_service(data_dir)
    layout = tmp_path / "layout"
    oci.write_image(layout, "v1")
    first.push(layout, "v1", "team/app:v1")
    leftover_pid = first.registry_pid()
    registry_port = first.registry_host_port.rsplit(":", 1)[1]
    first.process.send_signal(signal.SIGKILL)
    first.process.wait()

    with running_service(data_dir, registry_port=int(registry_port)) as second:
        tags = second.api().registry_call("image-tags", {"image": "team/app"})
        new_pid = second.registry_pid()
        log = second.log_text()

    assert tags.status_code == 200
    assert new_pid != leftover_pid
    assert not Path(f"/proc/{leftover_pid}").exists() or _is_zombie(leftover_pid)
    assert f"Stopping registry process {leftover_pid} left over" in log


def test_second_service_same_data_dir_refused(tmp_path: Path) -> None:
    with running_service(tmp_path / "service") as first:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "nerve_registry",
                "serve",
                "--data-dir",
                str(first.data_dir),
                "--port",
                str(free_port()),
                "--registry-port",
                str(free_port()),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        still_serving = first.api().registry_call("images", {}).status_code

    assert result.returncode == 1
    assert "already uses the data directory" in result.stderr
    assert still_serving == 200


def _is_zombie(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def test_stop_service_leaves_no_registry(tmp_path: Path) -> None:
    service = start_service(tmp_path / "service")
    registry_pid = service.registry_pid()

    stop_service(service)
    log = service.log_text()

    assert "MS registry service stopped" in log
    assert not os.path.exists(f"/proc/{registry_pid}") or _is_zombie(registry_pid)
