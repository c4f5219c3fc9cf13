"""Run the real MS registry service (``nerve-registry serve``) as a child process for tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.support import skopeo
from tests.support.ports import free_port

START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0


@dataclass
class RunningService:
    """A started service: its API URL, its embedded registry and its data directory."""

    url: str
    registry_host_port: str
    data_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes]
    admin_password: str = field(repr=False)

    @property
    def registry_url(self) -> str:
        return f"http://{self.registry_host_port}"

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def registry_pid(self) -> int:
        """Return the pid of the embedded ``docker-registry`` process of this service."""
        config = str(self.data_dir / "registry" / "config.yml")
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                arguments = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if config.encode() in arguments and b"serve" in arguments:
                return int(entry.name)
        raise LookupError(f"no docker-registry process uses {config}")

    @property
    def registry_creds(self) -> str | None:
        """``USER:PASSWORD`` for skopeo against the embedded registry; None when it needs none."""
        return None

    def push(
        self, layout_dir: Path, tag: str, destination: str, *, all_images: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """Push the layout's ``tag`` to ``REPOSITORY:TAG`` in this service's registry."""
        return skopeo.push(
            layout_dir,
            tag,
            f"{self.registry_host_port}/{destination}",
            all_images=all_images,
            creds=self.registry_creds,
        )

    def pull(
        self, source: str, dest_dir: Path, tag: str, *, all_images: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """Pull ``REPOSITORY:TAG`` (or ``@DIGEST``) from this service's registry into a layout."""
        return skopeo.pull(
            f"{self.registry_host_port}/{source}",
            dest_dir,
            tag,
            all_images=all_images,
            creds=self.registry_creds,
        )

    def copy(self, source: str, destination: str) -> subprocess.CompletedProcess[str]:
        """Copy ``REPOSITORY:TAG`` (or ``@DIGEST``) to another name within this registry."""
        command = ["copy", "--src-tls-verify=false", "--dest-tls-verify=false"]
        if self.registry_creds:
            command += ["--src-creds", self.registry_creds, "--dest-creds", self.registry_creds]
        command += [
            f"docker://{self.registry_host_port}/{source}",
            f"docker://{self.registry_host_port}/{destination}",
        ]
        return skopeo.run(command)

    def registry_request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Send a request straight to the embedded registry's distribution API."""
        return requests.request(method, f"{self.registry_url}{path}", timeout=30, **kwargs)

    def api(self) -> ApiSession:
        """Return a raw HTTP session logged in as admin."""
        session = ApiSession(self.url)
        session.login("admin", self.admin_password)
        return session


class ApiSession(requests.Session):
    """A plain requests session for the MS API that sends the ``sessionid`` header after login."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")

    def login(self, identity: str, secret: str) -> requests.Response:
        response = self.post_json("/auth/login", {"identity": identity, "secret": secret})
        if response.status_code == 200:
            self.headers["sessionid"] = response.headers["sessionId"]
        return response

    def post_json(self, path: str, body: Any) -> requests.Response:
        return self.post(self.base_url + path, json=body, timeout=60)

    def registry_call(self, endpoint: str, body: Any) -> requests.Response:
        """POST ``body`` to ``/nerve/registry/ENDPOINT``."""
        return self.post_json(f"/nerve/registry/{endpoint}", body)


def service_command(
    data_dir: Path, port: int, registry_port: int, extra: Sequence[str]
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "nerve_registry",
        "serve",
        "--data-dir",
        str(data_dir),
        "--port",
        str(port),
        "--registry-port",
        str(registry_port),
        *extra,
    ]


@contextmanager
def running_service(
    data_dir: Path,
    *,
    extra_args: Sequence[str] = (),
    env: dict[str, str] | None = None,
    registry_port: int | None = None,
) -> Iterator[RunningService]:
    """Start ``nerve-registry serve`` on free ports, wait until healthy, and stop it afterwards."""
    service = start_service(data_dir, extra_args=extra_args, env=env, registry_port=registry_port)
    try:
        yield service
    finally:
        stop_service(service)


def start_service(
    data_dir: Path,
    *,
    extra_args: Sequence[str] = (),
    env: dict[str, str] | None = None,
    registry_port: int | None = None,
) -> RunningService:
    """Start the service; ``registry_port`` reuses a port, else a free one is picked."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    registry_port = registry_port or free_port()
    log_path = data_dir / "service.log"
    process_env = {**os.environ, "LOGGING_LEVEL": "INFO", **(env or {})}

    with log_path.open("ab") as log:
        process = subprocess.Popen(
            service_command(data_dir, port, registry_port, extra_args),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=process_env,
        )

    url = f"http://127.0.0.1:{port}"
    _wait_until_healthy(url, process, log_path)
    password_file = data_dir / "initial-admin-password"
    return RunningService(
        url=url,
        registry_host_port=f"127.0.0.1:{registry_port}",
        data_dir=data_dir,
        log_path=log_path,
        process=process,
        admin_password=password_file.read_text().strip() if password_file.exists() else "",
    )


def stop_service(service: RunningService) -> None:
    if service.process.poll() is None:
        service.process.send_signal(signal.SIGTERM)
        try:
            service.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            service.process.kill()
            service.process.wait()


def _wait_until_healthy(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"The service exited with {process.returncode} during start-up:\n"
                + log_path.read_text(errors="replace")[-4000:]
            )
        try:
            if requests.get(url + "/health", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)

    process.kill()
    raise RuntimeError(
        f"The service did not become healthy within {START_TIMEOUT} s:\n"
        + log_path.read_text(errors="replace")[-4000:]
    )
