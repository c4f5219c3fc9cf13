"""Find and stop a registry process that a previous run of the service left behind.

When the service is killed with SIGKILL, its ``docker-registry`` child keeps
running and keeps the registry port bound. It is recognised by its command line,
which names this data directory's generated configuration.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path

logger = logging.getLogger(__name__)

PROC = Path("/proc")
# Seconds to wait for the leftover process to exit after SIGTERM, then after SIGKILL.
EXIT_TIMEOUT = 5.0


def find_leftover_registries(config_path: Path) -> list[int]:
    """Return the pids of ``docker-registry serve CONFIG`` processes for ``config_path``."""
    config_argument = str(config_path).encode()
    pids = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            arguments = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"serve" in arguments and config_argument in arguments:
            pids.append(int(entry.name))
    return pids


def stop_leftover_registries(config_path: Path) -> list[int]:
    """Stop every registry process left over for ``config_path``; return their pids."""
    stopped = []
    for pid in find_leftover_registries(config_path):
        logger.warning("Stopping registry process %d left over from a previous run", pid)
        if _signal_and_wait(pid, signal.SIGTERM) or _signal_and_wait(pid, signal.SIGKILL):
            stopped.append(pid)
        else:
            logger.error("Registry process %d left over from a previous run did not exit", pid)
    return stopped


def _signal_and_wait(pid: int, signal_number: int) -> bool:
    """Send a signal and return True once the process is gone."""
    try:
        os.kill(pid, signal_number)
    except ProcessLookupError:
        return True

    deadline = time.monotonic() + EXIT_TIMEOUT
    while time.monotonic() < deadline:
        if not (PROC / str(pid)).exists() or _is_zombie(pid):
            return True
        time.sleep(0.05)
    return False


def _is_zombie(pid: int) -> bool:
    try:
        status = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return False
    return status.rsplit(")", 1)[-1].split()[0] == "Z"
