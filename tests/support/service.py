"""Run the real MS registry service (``nerve-registry serve``) as a child process for tests."""

from __future__ import annotations

import os
import re
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
    # CA certificate of a service started with --tls-cert; its registry uses
    # HTTPS too when registry_scheme is "https".
    ca_cert: Path | None = None
    registry_scheme: str = "http"

    @property
    def registry_url(self) -> str:
        return f"{self.registry_scheme}://{self.registry_host_port}"

    @property
    def verify(self) -> bool | str:
        """The ``verify`` argument of requests for this service's API and registry."""
        return str(self.ca_cert) if self.ca_cert else True

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
        """``USER:PASSWORD`` of the admin account, for skopeo against the embedded registry."""
        return f"admin:{self.admin_password}" if self.admin_password else None

    def add_account(self, name: str, password: str, *, admin: bool = False) -> None:
        """Create an account with ``nerve-registry user add``, as an operator would."""
        command = [
            *_cli(),
            "user",
            "add",
            name,
            "--password-stdin",
            "--data-dir",
            str(self.data_dir),
        ]
        if admin:
            command.append("--admin")
        subprocess.run(command, input=password + "\n", text=True, check=True, capture_output=True)

    def token(
        self, scopes: Sequence[str], *, user: str = "admin", password: str | None = None
    ) -> requests.Response:
        """Request a registry token from the service's token endpoint with Basic credentials."""
        secret = self.admin_password if password is None else password
        return requests.get(
            f"{self.url}/auth/token",
            params={"service": "nerve-registry", "scope": list(scopes), "account": user},
            auth=(user, secret),
            timeout=30,
            verify=self.verify,
        )

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

    def registry_request(
        self, method: str, path: str, *, bearer: str | None = None, **kwargs: Any
    ) -> requests.Response:
        """Send a request straight to the embedded registry's distribution API, as admin.

        The registry responds to the first attempt with 401 and a Bearer
        challenge that names the scope, so the request is repeated once with a
        token for it.
        With ``bearer``, the request carries that token and the registry's
        response is returned as it is.
        """
        url = f"{self.registry_url}{path}"
        if bearer is not None:
            headers = {**kwargs.pop("headers", {}), "Authorization": f"Bearer {bearer}"}
            return requests.request(
                method, url, timeout=30, headers=headers, verify=self.verify, **kwargs
            )

        response = requests.request(method, url, timeout=30, verify=self.verify, **kwargs)
        challenge = response.headers.get("www-authenticate", "")
        if response.status_code != 401 or not challenge.lower().startswith("bearer"):
            return response

        scope = _challenge_parameter(challenge, "scope")
        granted = self.token([scope] if scope else [])
        granted.raise_for_status()
        headers = {
            **kwargs.pop("headers", {}),
            "Authorization": f"Bearer {granted.json()['token']}",
        }
        return requests.request(
            method, url, timeout=30, headers=headers, verify=self.verify, **kwargs
        )

    def api(self) -> ApiSession:
        """Return a raw HTTP session logged in as admin."""
        return self.api_as("admin", self.admin_password)

    def api_as(self, user: str, password: str) -> ApiSession:
        """Return a raw HTTP session logged in as ``user``."""
        session = ApiSession(self.url)
        session.verify = self.verify
        session.login(user, password)
        return session


class ApiSession(requests.Session):
    """A plain requests session for the MS API that sends the ``sessionid`` header after login."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        # requests prefers REQUESTS_CA_BUNDLE over Session.verify unless each call passes it.
        kwargs.setdefault("verify", self.verify)
        return super().request(method, url, *args, **kwargs)

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


def _challenge_parameter(challenge: str, name: str) -> str | None:
    match = re.search(rf'{name}="([^"]*)"', challenge)
    return match.group(1) if match else None


def _cli() -> list[str]:
    return [sys.executable, "-m", "nerve_registry"]


def service_command(
    data_dir: Path, port: int, registry_port: int, extra: Sequence[str]
) -> list[str]:
    return [
        *_cli(),
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
    ca_cert: Path | None = None,
    registry_port: int | None = None,
) -> Iterator[RunningService]:
    """Start ``nerve-registry serve`` on free ports, wait until healthy, and stop it afterwards.

    With ``ca_cert`` the service is expected to serve HTTPS (``extra_args``
    name --tls-cert and --tls-key) with a certificate that ``ca_cert`` verifies.
    """
    service = start_service(
        data_dir, extra_args=extra_args, env=env, ca_cert=ca_cert, registry_port=registry_port
    )
    try:
        yield service
    finally:
        stop_service(service)


def start_service(
    data_dir: Path,
    *,
    extra_args: Sequence[str] = (),
    env: dict[str, str] | None = None,
    ca_cert: Path | None = None,
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

    url = f"{'https' if ca_cert else 'http'}://127.0.0.1:{port}"
    _wait_until_healthy(url, process, log_path, str(ca_cert) if ca_cert else True)
    password_file = data_dir / "initial-admin-password"
    return RunningService(
        url=url,
        registry_host_port=f"127.0.0.1:{registry_port}",
        data_dir=data_dir,
        log_path=log_path,
        process=process,
        admin_password=password_file.read_text().strip() if password_file.exists() else "",
        ca_cert=ca_cert,
        registry_scheme="https" if "--registry-tls" in extra_args else "http",
    )


def stop_service(service: RunningService) -> None:
    if service.process.poll() is None:
        service.process.send_signal(signal.SIGTERM)
        try:
            service.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            service.process.kill()
            service.process.wait()


def _wait_until_healthy(
    url: str, process: subprocess.Popen[bytes], log_path: Path, verify: bool | str
) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"The service exited with {process.returncode} during start-up:\n"
                + log_path.read_text(errors="replace")[-4000:]
            )
        try:
            if requests.get(url + "/health", timeout=2, verify=verify).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)

    process.kill()
    raise RuntimeError(
        f"The service did not become healthy within {START_TIMEOUT} s:\n"
        + log_path.read_text(errors="replace")[-4000:]
    )
