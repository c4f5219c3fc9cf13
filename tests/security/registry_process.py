"""Run a real ``docker-registry`` (CNCF Distribution 2.8) with token authentication for tests."""

from __future__ import annotations

import logging
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from tests.support.ports import free_port

logger = logging.getLogger(__name__)

REGISTRY_BINARY = "docker-registry"
STARTUP_TIMEOUT_SECONDS = 20.0
STOP_TIMEOUT_SECONDS = 10.0


@dataclass
class RegistryProcess:
    """A running registry: its base URL, its log file and the process."""

    url: str
    port: int
    log_path: Path
    process: subprocess.Popen[bytes]

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_registry(directory: Path, auth: dict[str, object]) -> RegistryProcess:
    """Write a config with ``auth`` as its ``auth:`` section, start the registry and wait for it.

    Storage, config and log all live in ``directory``. Raises RuntimeError with
    the registry's log when it exits or does not respond within
    STARTUP_TIMEOUT_SECONDS.
    """
    port = free_port()
    config = {
        "version": 0.1,
        "log": {"level": "info", "formatter": "text", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(directory / "storage")},
            "delete": {"enabled": True},
        },
        "http": {"addr": f"127.0.0.1:{port}", "secret": "test-http-secret-for-one-registry"},
        "auth": auth,
    }
    config_path = directory / "config.yml"
    config_path.write_text(yaml.safe_dump(config))

    log_path = directory / "registry.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [REGISTRY_BINARY, "serve", str(config_path)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )

    registry = RegistryProcess(
        url=f"http://127.0.0.1:{port}", port=port, log_path=log_path, process=process
    )
    _wait_until_responding(registry)
    return registry


def _wait_until_responding(registry: RegistryProcess) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if registry.process.poll() is not None:
            raise RuntimeError(
                f"docker-registry exited with {registry.process.returncode}:\n{registry.log_text()}"
            )

        try:
            httpx.get(f"{registry.url}/v2/", timeout=1.0)
        except httpx.TransportError:
            time.sleep(0.05)
            continue

        logger.info("docker-registry responding at %s", registry.url)
        return

    registry.stop()
    raise RuntimeError(
        f"docker-registry did not respond within {STARTUP_TIMEOUT_SECONDS} s:\n"
        f"{registry.log_text()}"
    )
