"""A throw-away PostgreSQL server for tests, started with the machine's initdb and pg_ctl."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.ports import free_port

DATABASE = "nerve"
ROLE = "nerve"


def postgres_bin_dir() -> Path | None:
    """Return the directory with initdb and pg_ctl, or None when PostgreSQL is not installed."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent

    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    return Path(candidates[0]).parent if candidates else None


@contextmanager
def running_postgres() -> Iterator[str]:
    """Start a PostgreSQL server on a free loopback port and yield its SQLAlchemy URL.

    PostgreSQL refuses to run as root, so as root the cluster belongs to the
    ``postgres`` account that the Debian package creates. Its files live in a
    new directory under the system temporary directory, which that account can
    reach (pytest's own temporary directories are private to root).
    """
    root = Path(tempfile.mkdtemp(prefix="nerve-postgres-"))
    try:
        with _cluster(root) as url:
            yield url
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def _cluster(root: Path) -> Iterator[str]:
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL is not installed: install the Debian package postgresql.")

    data_dir = root / "pgdata"
    socket_dir = root / "pgsocket"
    for directory in (root, socket_dir):
        directory.mkdir(parents=True, exist_ok=True)
    port = free_port()

    as_owner = _owner_prefix(root, socket_dir)
    _run([*as_owner, str(bin_dir / "initdb"), "-D", str(data_dir), "-U", ROLE, "--auth=trust"])
    options = f"-p {port} -k {socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off"
    pg_ctl = [*as_owner, str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-w"]
    _run([*pg_ctl, "-o", options, "-l", str(root / "postgres.log"), "start"])
    try:
        _run(
            [
                *as_owner,
                str(bin_dir / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                ROLE,
                DATABASE,
            ]
        )
        yield f"postgresql+psycopg://{ROLE}@127.0.0.1:{port}/{DATABASE}"
    finally:
        _run([*pg_ctl, "-m", "fast", "stop"])


def _owner_prefix(*directories: Path) -> list[str]:
    if os.geteuid() != 0:
        return []

    shutil.chown(directories[0], "postgres")
    for directory in directories[1:]:
        shutil.chown(directory, "postgres")
    return ["runuser", "-u", "postgres", "--"]


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
