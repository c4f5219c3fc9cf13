"""Start, watch and restart the embedded ``docker-registry`` process."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import shutil
import signal
import socket
from collections import deque
from pathlib import Path
from typing import Any, BinaryIO

import httpx

from nerve_registry.config import Settings
from nerve_registry.embedded.errors import EmbeddedRegistryError
from nerve_registry.embedded.leftover import stop_leftover_registries
from nerve_registry.embedded.registry_config import (
    loopback_tls_context,
    registry_config_path,
    registry_storage_dir,
    write_registry_config,
)

logger = logging.getLogger(__name__)

# The registry's log. When the registry (re)starts and the log is larger than
# LOG_ROTATE_BYTES, it is renamed to registry.log.1 (replacing an older one).
# NOTE: a registry that runs for months without a restart still grows its log
# without limit. The health probes alone add roughly 1.5 MB a day, an estimate
# from about 450 bytes every PROBE_INTERVAL seconds.
LOG_FILE_NAME = "registry.log"
LOG_ROTATE_BYTES = 20 * 1024 * 1024

# Seconds to wait for GET /v2/ after the process was spawned.
START_TIMEOUT = 30.0
# Seconds between two GET /v2/ requests while waiting for the registry to come up.
START_POLL_INTERVAL = 0.05
# Seconds between two health probes while the registry runs. A crash is noticed
# at once through the process exit; the probes find a registry that hangs.
PROBE_INTERVAL = 30.0
# Seconds each health probe may take.
PROBE_TIMEOUT = 5.0
# Seconds between SIGTERM and SIGKILL when stopping the process.
STOP_TIMEOUT = 10.0
# Delays in seconds before restarting a process that exited on its own: the first
# delay, the cap, and how long the process must have been healthy to reset the delay.
RESTART_DELAY_FIRST = 1.0
RESTART_DELAY_MAX = 30.0
RESTART_DELAY_RESET_AFTER = 60.0

# Number of log lines quoted in the error when the process exits during startup.
LOG_TAIL_LINES = 20

# GET /v2/ returns 200 without authentication and 401 with token authentication.
# Both mean the registry serves requests. It returns 503 while its storage check fails.
_HEALTHY_STATUSES = frozenset({200, 401})


class RegistrySupervisor:
    """One supervised ``docker-registry serve CONFIG`` child process, on 127.0.0.1 by default.

    ``start()`` spawns the process and waits until it serves requests. A monitor
    task then restarts the process with exponential backoff whenever it exits on
    its own, and probes ``GET /v2/`` every ``PROBE_INTERVAL`` seconds to keep
    ``healthy`` current. ``stop()`` ends both. All methods must run on one event loop.

    The child runs in its own session, so a Ctrl-C in the terminal reaches only
    the service, which then stops the registry through ``stop()``.

    When the service itself is killed with SIGKILL, the registry keeps running;
    the next ``start()`` stops that leftover process before it binds the port.
    """

    def __init__(self, settings: Settings, *, auth: dict[str, Any] | None = None) -> None:
        """``auth`` becomes the ``auth`` section of the registry configuration (token auth)."""
        self._settings = settings
        self._auth = auth
        self._read_only = False
        self._process: asyncio.subprocess.Process | None = None
        self._log_file: BinaryIO | None = None
        # Size of the log file when the current process was spawned: its own lines follow.
        self._log_offset = 0
        self._monitor_task: asyncio.Task[None] | None = None
        self._healthy = False
        self._healthy_since: float | None = None
        self._restart_delay = RESTART_DELAY_FIRST
        self._lock = asyncio.Lock()

    @property
    def url(self) -> str:
        return self._settings.embedded_registry_url

    @property
    def running(self) -> bool:
        """True while the child process exists and has not exited."""
        return self._process is not None and self._process.returncode is None

    @property
    def healthy(self) -> bool:
        """True when the last request to ``GET /v2/`` returned 200 or 401."""
        return self._healthy and self.running

    @property
    def storage_dir(self) -> Path:
        return registry_storage_dir(self._settings)

    @property
    def config_path(self) -> Path:
        return registry_config_path(self._settings)

    @property
    def log_path(self) -> Path:
        return self._settings.log_dir / LOG_FILE_NAME

    @property
    def pid(self) -> int | None:
        """Process id of the running child, None while no child runs."""
        if self._process is None or self._process.returncode is not None:
            return None
        return self._process.pid

    @property
    def read_only(self) -> bool:
        """True while the registry runs in read-only maintenance mode: pulls work, writes fail."""
        return self._read_only

    async def start(self) -> None:
        """Spawn the registry, wait until it serves requests and start the monitor task.

        Does nothing when the registry already runs or the monitor task is
        restarting it. Raises EmbeddedRegistryError
        when the binary is missing, the port is in use, or the process exits or
        stays unhealthy for ``START_TIMEOUT`` seconds.
        """
        async with self._lock:
            if self.running or self._monitor_active():
                return
            await self._start_unlocked()

    async def stop(self) -> None:
        """Stop the monitor task and the process: SIGTERM, then SIGKILL after ``STOP_TIMEOUT`` s.

        Calling it again, or before ``start()``, does nothing.
        """
        async with self._lock:
            await self._stop_unlocked()

    async def restart(self, *, read_only: bool | None = None) -> None:
        """Rewrite the configuration, stop the process and start it again, then wait until healthy.

        ``read_only`` switches Distribution's read-only maintenance mode on (True)
        or off (False), and None keeps the current mode. Garbage collection needs the
        mode on while it runs, because a push during collection can lose blobs.
        When the new process does not come up, the error propagates and no
        registry runs until the next ``start()`` or ``restart()``.
        """
        async with self._lock:
            if read_only is not None:
                self._read_only = read_only

            logger.info("restarting registry at %s (read-only: %s)", self.url, self._read_only)
            await self._stop_unlocked()
            await self._start_unlocked()

    async def wait_healthy(self, timeout: float) -> None:  # noqa: ASYNC109 - a deadline, not a cancel scope
        """Wait until ``GET /v2/`` returns 200 or 401, for at most ``timeout`` seconds.

        Raises EmbeddedRegistryError when the time runs out or the process exits.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with self._probe_client() as client:
            while True:
                process = self._process
                if process is None or process.returncode is not None:
                    raise self._exited_error(process)

                if await self._probe(client):
                    self._set_healthy(True)
                    return

                if loop.time() >= deadline:
                    raise EmbeddedRegistryError(
                        f"Timed out after {timeout:g} s waiting for the registry at {self.url} "
                        f"to return 200 or 401 for GET /v2/. See its log in {self.log_path}."
                    )
                await asyncio.sleep(START_POLL_INTERVAL)

    def _monitor_active(self) -> bool:
        return self._monitor_task is not None and not self._monitor_task.done()

    async def _start_unlocked(self) -> None:
        self._restart_delay = RESTART_DELAY_FIRST
        await self._launch()
        self._monitor_task = asyncio.create_task(self._monitor(), name="registry-monitor")
        self._monitor_task.add_done_callback(_log_monitor_failure)

    async def _launch(self) -> None:
        """Spawn the process and wait until it is healthy. On failure no process is left running."""
        binary = self._find_binary()
        await asyncio.to_thread(stop_leftover_registries, self.config_path)
        self._check_port_free()
        try:
            await self._spawn(binary)
        except OSError as error:
            await self._terminate_process()
            raise EmbeddedRegistryError(
                f"Starting the registry {binary} with the configuration "
                f"{self.config_path} failed: {error}"
            ) from error

        try:
            await self.wait_healthy(START_TIMEOUT)
        except BaseException:
            await self._terminate_process()
            raise

    async def _stop_unlocked(self) -> None:
        await self._cancel_monitor()
        await self._terminate_process()

    async def _cancel_monitor(self) -> None:
        monitor = self._monitor_task
        self._monitor_task = None
        if monitor is None:
            return

        monitor.cancel()
        try:
            await monitor
        except asyncio.CancelledError:
            # Swallow only the monitor's own cancellation, not one aimed at the caller.
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
        except Exception:  # noqa: S110 - _log_monitor_failure has logged it
            pass

    def _find_binary(self) -> str:
        name = self._settings.registry_binary
        path = shutil.which(name)
        if path is None:
            raise EmbeddedRegistryError(
                f"The registry program {name!r} was not found on PATH. Install the Debian "
                "package docker-registry (apt-get install docker-registry), which provides "
                "CNCF Distribution."
            )
        return path

    def _check_port_free(self) -> None:
        """Raise unless registry_host:registry_port can be bound.

        SO_REUSEADDR matches what the registry (a Go program) sets on its listener,
        so connections in TIME_WAIT from a previous run do not count as busy.
        """
        port = self._settings.registry_port
        host = self._settings.registry_host
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as error:
                if error.errno != errno.EADDRINUSE:
                    raise EmbeddedRegistryError(
                        f"Binding the registry port {host}:{port} failed: {error.strerror}."
                    ) from error
                raise EmbeddedRegistryError(
                    f"Port {port} on {host} is already in use, so the embedded registry "
                    "cannot listen on it. Stop the program that uses it or choose another "
                    "port with --registry-port."
                ) from error

    async def _spawn(self, binary: str) -> None:
        config_path = write_registry_config(
            self._settings, read_only=self._read_only, auth=self._auth
        )
        self.storage_dir.mkdir(parents=True, exist_ok=True)
        self._settings.log_dir.mkdir(parents=True, exist_ok=True)

        self._close_log_file()
        _rotate_if_large(self.log_path)
        log_file = self.log_path.open("ab")
        self._log_file = log_file
        self._log_offset = log_file.tell()

        self._mark_down()
        self._process = await asyncio.create_subprocess_exec(
            binary,
            "serve",
            str(config_path),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,
        )
        logger.info(
            "started registry process pid %d at %s (read-only: %s, log %s)",
            self._process.pid,
            self.url,
            self._read_only,
            self.log_path,
        )

    async def _terminate_process(self) -> None:
        process = self._process
        self._mark_down()
        if process is None:
            self._close_log_file()
            return

        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
            except TimeoutError:
                logger.warning(
                    "registry process pid %d did not exit %g s after SIGTERM, sending SIGKILL",
                    process.pid,
                    STOP_TIMEOUT,
                )
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
            logger.info(
                "stopped registry process pid %d at %s (exit code %s)",
                process.pid,
                self.url,
                process.returncode,
            )

        self._process = None
        self._close_log_file()

    async def _monitor(self) -> None:
        """Probe the running process and restart it whenever it exits, until cancelled."""
        while True:
            process = self._process
            if process is None:
                return

            await self._watch(process)
            logger.warning(
                "registry process pid %d exited unexpectedly with code %s",
                process.pid,
                process.returncode,
            )
            self._on_unexpected_exit()
            await self._restart_with_backoff()

    async def _watch(self, process: asyncio.subprocess.Process) -> None:
        """Probe ``GET /v2/`` every ``PROBE_INTERVAL`` seconds until ``process`` exits."""
        exit_waiter = asyncio.create_task(process.wait())
        try:
            async with self._probe_client() as client:
                while True:
                    done, _ = await asyncio.wait({exit_waiter}, timeout=PROBE_INTERVAL)
                    if done:
                        return
                    self._set_healthy(await self._probe(client))
        finally:
            exit_waiter.cancel()

    def _on_unexpected_exit(self) -> None:
        loop = asyncio.get_running_loop()
        healthy_since = self._healthy_since
        self._mark_down()

        if healthy_since is not None and loop.time() - healthy_since >= RESTART_DELAY_RESET_AFTER:
            self._restart_delay = RESTART_DELAY_FIRST

    async def _restart_with_backoff(self) -> None:
        """Spawn the process again until it comes up healthy, doubling the delay after each try."""
        attempt = 0
        while True:
            attempt += 1
            delay = self._restart_delay
            self._restart_delay = min(delay * 2, RESTART_DELAY_MAX)
            logger.warning(
                "restarting registry at %s in %g s (attempt %d)", self.url, delay, attempt
            )
            await asyncio.sleep(delay)

            try:
                await self._launch()
            except EmbeddedRegistryError as error:
                logger.warning("restart attempt %d of the registry failed: %s", attempt, error)
                continue
            return

    async def _probe(self, client: httpx.AsyncClient) -> bool:
        try:
            response = await client.get(f"{self.url}/v2/")
        except httpx.HTTPError:
            return False
        return response.status_code in _HEALTHY_STATUSES

    def _probe_client(self) -> httpx.AsyncClient:
        # trust_env=False keeps proxy variables such as HTTP_PROXY from routing the
        # loopback request through a proxy.
        verify = loopback_tls_context(self._settings) or True
        return httpx.AsyncClient(timeout=PROBE_TIMEOUT, trust_env=False, verify=verify)

    def _set_healthy(self, healthy: bool) -> None:
        if healthy == self._healthy:
            return

        self._healthy = healthy
        if healthy:
            self._healthy_since = asyncio.get_running_loop().time()
            logger.info("registry at %s (pid %s) is healthy", self.url, self.pid)
        else:
            self._healthy_since = None
            logger.warning("registry at %s (pid %s) is not healthy", self.url, self.pid)

    def _mark_down(self) -> None:
        """Clear the health state without logging, for exits that are logged on their own."""
        self._healthy = False
        self._healthy_since = None

    def _exited_error(self, process: asyncio.subprocess.Process | None) -> EmbeddedRegistryError:
        if process is None:
            return EmbeddedRegistryError(f"The registry at {self.url} is not running.")
        return EmbeddedRegistryError(
            f"The registry process exited with code {process.returncode} before it served "
            f"requests. Last lines of {self.log_path}:\n{self._log_tail()}"
        )

    def _log_tail(self) -> str:
        """Return the last ``LOG_TAIL_LINES`` lines that the current process wrote to its log."""
        try:
            with self.log_path.open("rb") as stream:
                stream.seek(self._log_offset)
                lines = deque(stream, maxlen=LOG_TAIL_LINES)
        except OSError as error:
            return f"(log not readable: {error})"
        return b"".join(lines).decode("utf-8", errors="replace").rstrip()

    def _close_log_file(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


def _log_monitor_failure(task: asyncio.Task[None]) -> None:
    """Log the error that ended the monitor task. After that, nothing restarts the registry."""
    if task.cancelled():
        return
    error = task.exception()
    if error is not None:
        logger.error(
            "the registry monitor stopped on an unexpected error, so the registry will not "
            "be restarted if it exits",
            exc_info=error,
        )


def _rotate_if_large(path: Path) -> None:
    """Rename a log larger than LOG_ROTATE_BYTES to ``NAME.1``; the next process starts anew."""
    try:
        if path.stat().st_size <= LOG_ROTATE_BYTES:
            return
        path.replace(path.with_name(path.name + ".1"))
    except FileNotFoundError:
        return
    logger.info("rotated the registry log %s to %s.1", path, path.name)
