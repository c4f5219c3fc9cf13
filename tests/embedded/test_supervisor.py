"""RegistrySupervisor against the real docker-registry binary, with skopeo as the client."""

from __future__ import annotations

import logging
import os
import signal
import socket
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from nerve_registry.embedded import supervisor as supervisor_module
from nerve_registry.embedded.errors import EmbeddedRegistryError
from nerve_registry.embedded.supervisor import RegistrySupervisor
from nerve_registry.errors import RegistryUnavailableError
from tests.support import oci, skopeo
from tests.support.loop import LoopThread
from tests.support.registry import RunningRegistry, registry_settings, running_registry

# Seconds to wait for the supervisor to bring a killed registry back. The first
# restart waits 1 s, and one start took about 0.05 s on a 2-core test machine.
RECOVERY_TIMEOUT = 30.0


@pytest.fixture(scope="module")
def own_registry(
    tmp_path_factory: pytest.TempPathFactory, loop_thread: LoopThread
) -> Iterator[RunningRegistry]:
    """A registry for this module only, because its tests kill and restart it."""
    with running_registry(tmp_path_factory.mktemp("supervised"), loop_thread) as running:
        yield running


def _wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _pushed_image(registry: RunningRegistry, layout: Path, repository: str) -> oci.ImageInfo:
    image = oci.write_image(layout, "v1", seed=repository)
    skopeo.push(layout, "v1", f"{registry.host_port}/{repository}:v1")
    return image


def test_v2_endpoint_returns_200(own_registry: RunningRegistry) -> None:
    response = httpx.get(f"{own_registry.url}/v2/", trust_env=False)

    assert response.status_code == 200


def test_supervisor_reports_running(own_registry: RunningRegistry) -> None:
    supervisor = own_registry.supervisor

    assert supervisor.running
    assert supervisor.healthy
    assert supervisor.pid is not None
    assert supervisor.url == f"http://{own_registry.host_port}"


def test_storage_dir_under_data_dir(own_registry: RunningRegistry) -> None:
    supervisor = own_registry.supervisor

    assert supervisor.storage_dir == own_registry.settings.data_dir / "registry" / "storage"
    assert supervisor.storage_dir.is_dir()


def test_config_written_private(own_registry: RunningRegistry) -> None:
    mode = stat.S_IMODE(own_registry.supervisor.config_path.stat().st_mode)

    assert mode == 0o600


def test_registry_output_goes_to_log(own_registry: RunningRegistry) -> None:
    log_path = own_registry.settings.log_dir / "registry.log"

    assert f"listening on {own_registry.host_port}" in log_path.read_text()


def test_push_then_pull_round_trip(own_registry: RunningRegistry, tmp_path: Path) -> None:
    image = _pushed_image(own_registry, tmp_path / "layout", "team/roundtrip")

    skopeo.pull(f"{own_registry.host_port}/team/roundtrip:v1", tmp_path / "pulled", "v1")

    assert oci.layout_tags(tmp_path / "pulled") == {"v1": image.manifest_digest}


def test_killed_registry_restarted(
    own_registry: RunningRegistry, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _pushed_image(own_registry, tmp_path / "layout", "team/survivor")
    supervisor = own_registry.supervisor
    old_pid = supervisor.pid
    assert old_pid is not None
    caplog.set_level(logging.INFO, logger="nerve_registry.embedded.supervisor")

    os.kill(old_pid, signal.SIGKILL)
    went_down = _wait_until(lambda: not supervisor.healthy, RECOVERY_TIMEOUT)
    recovered = _wait_until(
        lambda: supervisor.healthy and supervisor.pid not in (None, old_pid), RECOVERY_TIMEOUT
    )

    assert went_down
    assert recovered
    assert f"pid {old_pid} exited unexpectedly with code -9" in caplog.text
    assert "restarting registry" in caplog.text
    result = skopeo.inspect_raw(f"{own_registry.host_port}/team/survivor:v1")
    assert result.returncode == 0


def test_read_only_rejects_push(own_registry: RunningRegistry, tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    oci.write_image(layout, "v1", seed="read-only")

    own_registry.restart(read_only=True)
    try:
        with pytest.raises(skopeo.SkopeoError) as raised:
            skopeo.push(layout, "v1", f"{own_registry.host_port}/team/readonly:v1")
    finally:
        own_registry.restart(read_only=False)

    assert "405, Method not allowed" in raised.value.stderr


def test_read_only_rejects_manifest_of_present_blobs(
    own_registry: RunningRegistry, tmp_path: Path
) -> None:
    layout = tmp_path / "layout"
    _pushed_image(own_registry, layout, "team/retag")

    own_registry.restart(read_only=True)
    try:
        with pytest.raises(skopeo.SkopeoError) as raised:
            skopeo.push(layout, "v1", f"{own_registry.host_port}/team/retag:v2")
    finally:
        own_registry.restart(read_only=False)

    assert "uploading manifest v2" in raised.value.stderr
    assert "405, Method not allowed" in raised.value.stderr


def test_read_only_rejects_delete(own_registry: RunningRegistry, tmp_path: Path) -> None:
    _pushed_image(own_registry, tmp_path / "layout", "team/undeletable")

    own_registry.restart(read_only=True)
    try:
        with pytest.raises(skopeo.SkopeoError) as raised:
            skopeo.delete(f"{own_registry.host_port}/team/undeletable:v1")
    finally:
        own_registry.restart(read_only=False)

    assert "405 Method Not Allowed" in raised.value.stderr


def test_read_only_allows_pull(own_registry: RunningRegistry, tmp_path: Path) -> None:
    image = _pushed_image(own_registry, tmp_path / "layout", "team/pullable")

    own_registry.restart(read_only=True)
    try:
        skopeo.pull(f"{own_registry.host_port}/team/pullable:v1", tmp_path / "pulled", "v1")
    finally:
        own_registry.restart(read_only=False)

    assert oci.layout_tags(tmp_path / "pulled") == {"v1": image.manifest_digest}


def test_read_only_state_reported(own_registry: RunningRegistry) -> None:
    own_registry.restart(read_only=True)
    try:
        read_only_while_on = own_registry.supervisor.read_only
        config_while_on = yaml.safe_load(own_registry.supervisor.config_path.read_text())
    finally:
        own_registry.restart(read_only=False)

    assert read_only_while_on
    assert config_while_on["storage"]["maintenance"]["readonly"] == {"enabled": True}
    assert not own_registry.supervisor.read_only


def test_read_only_off_allows_push(own_registry: RunningRegistry, tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    oci.write_image(layout, "v1", seed="after read-only")
    own_registry.restart(read_only=True)
    own_registry.restart(read_only=False)

    result = skopeo.push(layout, "v1", f"{own_registry.host_port}/team/writable:v1")

    assert result.returncode == 0


def test_restart_keeps_images(own_registry: RunningRegistry, tmp_path: Path) -> None:
    image = _pushed_image(own_registry, tmp_path / "layout", "team/kept")

    own_registry.restart()

    result = skopeo.inspect_raw(f"{own_registry.host_port}/team/kept:v1")
    assert oci.digest_of(result.stdout.encode()) == image.manifest_digest


def test_stop_leaves_no_process(tmp_path: Path, loop_thread: LoopThread) -> None:
    supervisor = RegistrySupervisor(registry_settings(tmp_path))
    loop_thread.run(supervisor.start())
    pid = supervisor.pid
    assert pid is not None

    loop_thread.run(supervisor.stop())

    assert not _process_exists(pid)
    assert not supervisor.running
    assert supervisor.pid is None
    assert not supervisor.healthy


def test_stop_frees_port(tmp_path: Path, loop_thread: LoopThread) -> None:
    settings = registry_settings(tmp_path)
    supervisor = RegistrySupervisor(settings)
    loop_thread.run(supervisor.start())

    loop_thread.run(supervisor.stop())

    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", settings.registry_port))


def test_stop_twice_is_harmless(tmp_path: Path, loop_thread: LoopThread) -> None:
    supervisor = RegistrySupervisor(registry_settings(tmp_path))
    loop_thread.run(supervisor.start())
    loop_thread.run(supervisor.stop())

    loop_thread.run(supervisor.stop())

    assert not supervisor.running


def test_stop_before_start_is_harmless(tmp_path: Path, loop_thread: LoopThread) -> None:
    supervisor = RegistrySupervisor(registry_settings(tmp_path))

    loop_thread.run(supervisor.stop())

    assert not supervisor.running


def test_start_twice_keeps_process(tmp_path: Path, loop_thread: LoopThread) -> None:
    supervisor = RegistrySupervisor(registry_settings(tmp_path))
    loop_thread.run(supervisor.start())
    try:
        pid = supervisor.pid
        loop_thread.run(supervisor.start())
        assert supervisor.pid == pid
    finally:
        loop_thread.run(supervisor.stop())


def test_start_port_busy(tmp_path: Path, loop_thread: LoopThread) -> None:
    settings = registry_settings(tmp_path)
    supervisor = RegistrySupervisor(settings)

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", settings.registry_port))
        listener.listen()
        with pytest.raises(EmbeddedRegistryError) as raised:
            loop_thread.run(supervisor.start())

    assert f"Port {settings.registry_port}" in raised.value.message
    assert "--registry-port" in raised.value.message
    assert not supervisor.running


def test_start_missing_binary(tmp_path: Path, loop_thread: LoopThread) -> None:
    settings = registry_settings(tmp_path, registry_binary="docker-registry-not-installed")
    supervisor = RegistrySupervisor(settings)

    with pytest.raises(EmbeddedRegistryError) as raised:
        loop_thread.run(supervisor.start())

    assert "docker-registry-not-installed" in raised.value.message
    assert "Install the Debian package docker-registry" in raised.value.message


def test_start_error_is_registry_unavailable(tmp_path: Path, loop_thread: LoopThread) -> None:
    settings = registry_settings(tmp_path, registry_binary="docker-registry-not-installed")
    supervisor = RegistrySupervisor(settings)

    with pytest.raises(RegistryUnavailableError) as raised:
        loop_thread.run(supervisor.start())

    assert raised.value.error_code == "EMBEDDED_REGISTRY_FAILED"
    assert raised.value.status_code == 503


def test_start_process_exits_early(tmp_path: Path, loop_thread: LoopThread) -> None:
    failing = tmp_path / "failing-registry"
    failing.write_text("#!/bin/sh\necho 'configuration rejected: example failure' >&2\nexit 3\n")
    failing.chmod(0o755)
    settings = registry_settings(tmp_path / "data", registry_binary=str(failing))
    supervisor = RegistrySupervisor(settings)

    with pytest.raises(EmbeddedRegistryError) as raised:
        loop_thread.run(supervisor.start())

    assert "exited with code 3" in raised.value.message
    assert "configuration rejected: example failure" in raised.value.message
    assert not supervisor.running


def test_start_error_quotes_only_current_run(tmp_path: Path, loop_thread: LoopThread) -> None:
    failing = tmp_path / "failing-registry"
    failing.write_text("#!/bin/sh\necho 'second run output' >&2\nexit 3\n")
    failing.chmod(0o755)
    settings = registry_settings(tmp_path / "data", registry_binary=str(failing))
    settings.log_dir.mkdir(parents=True)
    (settings.log_dir / "registry.log").write_text("output of an earlier run\n")
    supervisor = RegistrySupervisor(settings)

    with pytest.raises(EmbeddedRegistryError) as raised:
        loop_thread.run(supervisor.start())

    assert "second run output" in raised.value.message
    assert "output of an earlier run" not in raised.value.message


def test_wait_healthy_when_running(own_registry: RunningRegistry) -> None:
    own_registry.loop.run(own_registry.supervisor.wait_healthy(5.0))

    assert own_registry.supervisor.healthy


def test_wait_healthy_when_stopped(tmp_path: Path, loop_thread: LoopThread) -> None:
    supervisor = RegistrySupervisor(registry_settings(tmp_path))

    with pytest.raises(EmbeddedRegistryError) as raised:
        loop_thread.run(supervisor.wait_healthy(1.0))

    assert "is not running" in raised.value.message


def _kill_and_wait_recovered(supervisor: RegistrySupervisor) -> bool:
    old_pid = supervisor.pid
    assert old_pid is not None
    os.kill(old_pid, signal.SIGKILL)
    return _wait_until(
        lambda: supervisor.healthy and supervisor.pid not in (None, old_pid), RECOVERY_TIMEOUT
    )


def test_restart_delay_doubles(
    tmp_path: Path, loop_thread: LoopThread, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="nerve_registry.embedded.supervisor")
    supervisor = RegistrySupervisor(registry_settings(tmp_path))
    loop_thread.run(supervisor.start())
    try:
        first = _kill_and_wait_recovered(supervisor)
        second = _kill_and_wait_recovered(supervisor)
    finally:
        loop_thread.run(supervisor.stop())

    assert first
    assert second
    delays = [message for message in caplog.messages if message.startswith("restarting")]
    assert [message.split(" in ")[1] for message in delays] == [
        "1 s (attempt 1)",
        "2 s (attempt 1)",
    ]


def test_restart_delay_resets_after_healthy_run(
    tmp_path: Path,
    loop_thread: LoopThread,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(supervisor_module, "RESTART_DELAY_RESET_AFTER", 0.0)
    caplog.set_level(logging.WARNING, logger="nerve_registry.embedded.supervisor")
    supervisor = RegistrySupervisor(registry_settings(tmp_path))
    loop_thread.run(supervisor.start())
    try:
        first = _kill_and_wait_recovered(supervisor)
        second = _kill_and_wait_recovered(supervisor)
    finally:
        loop_thread.run(supervisor.stop())

    assert first
    assert second
    delays = [message for message in caplog.messages if message.startswith("restarting")]
    assert [message.split(" in ")[1] for message in delays] == [
        "1 s (attempt 1)",
        "1 s (attempt 1)",
    ]


def test_hung_registry_reported_unhealthy(
    tmp_path: Path,
    loop_thread: LoopThread,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(supervisor_module, "PROBE_INTERVAL", 0.1)
    monkeypatch.setattr(supervisor_module, "PROBE_TIMEOUT", 0.2)
    caplog.set_level(logging.INFO, logger="nerve_registry.embedded.supervisor")
    supervisor = RegistrySupervisor(registry_settings(tmp_path))
    loop_thread.run(supervisor.start())
    pid = supervisor.pid
    assert pid is not None
    try:
        os.kill(pid, signal.SIGSTOP)
        went_unhealthy = _wait_until(lambda: not supervisor.healthy, RECOVERY_TIMEOUT)
        os.kill(pid, signal.SIGCONT)
        came_back = _wait_until(lambda: supervisor.healthy, RECOVERY_TIMEOUT)
    finally:
        os.kill(pid, signal.SIGCONT)
        loop_thread.run(supervisor.stop())

    assert went_unhealthy
    assert came_back
    assert "is not healthy" in caplog.text
    assert f"pid {pid}" in caplog.text


def test_restart_retried_while_port_busy(
    tmp_path: Path, loop_thread: LoopThread, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="nerve_registry.embedded.supervisor")
    settings = registry_settings(tmp_path)
    supervisor = RegistrySupervisor(settings)
    loop_thread.run(supervisor.start())
    old_pid = supervisor.pid
    assert old_pid is not None
    try:
        with socket.socket() as squatter:
            os.kill(old_pid, signal.SIGKILL)
            _wait_until(lambda: not supervisor.running, RECOVERY_TIMEOUT)
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            squatter.bind(("127.0.0.1", settings.registry_port))
            squatter.listen()
            first_attempt_failed = _wait_until(
                lambda: "restart attempt 1 of the registry failed" in caplog.text,
                RECOVERY_TIMEOUT,
            )
        recovered = _wait_until(lambda: supervisor.healthy, RECOVERY_TIMEOUT)
    finally:
        loop_thread.run(supervisor.stop())

    assert first_attempt_failed
    assert "already in use" in caplog.text
    assert recovered
    assert "(attempt 2)" in caplog.text


def test_large_log_rotated_on_start(
    tmp_path: Path, loop_thread: LoopThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(supervisor_module, "LOG_ROTATE_BYTES", 100)
    with running_registry(tmp_path / "data", loop_thread) as registry:
        log_path = registry.supervisor.log_path
        log_path.write_bytes(b"old line\n" * 50)
        registry.restart()
        rotated = log_path.with_name("registry.log.1")

        assert rotated.read_bytes().startswith(b"old line\n" * 50)
        assert b"old line" not in log_path.read_bytes()
