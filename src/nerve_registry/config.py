"""Settings of the MS registry service, with the defaults of the embedded installation."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_REGISTRY_PORT = 5000


def default_data_dir() -> Path:
    """Return the default data directory.

    That is ``$NERVE_DATA_DIR`` if set, else ``$XDG_DATA_HOME/nerve-registry``,
    else ``~/.local/share/nerve-registry``.
    """
    explicit = os.environ.get("NERVE_DATA_DIR")
    if explicit:
        return Path(explicit)

    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "nerve-registry"


@dataclass
class Settings:
    """Everything ``nerve-registry serve`` needs; the CLI fills it from options and environment.

    With ``registry_url`` unset the service runs its own ``docker-registry``
    process on ``127.0.0.1:registry_port`` with storage under ``data_dir``.
    With ``database_url`` unset the state lives in ``data_dir/state.db`` (SQLite).
    """

    data_dir: Path = field(default_factory=default_data_dir)
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    registry_port: int = DEFAULT_REGISTRY_PORT
    registry_url: str | None = None
    registry_binary: str = "docker-registry"
    database_url: str | None = None

    # Sessions end after this many seconds without a request, and in any case
    # after session_lifetime seconds.
    session_idle_timeout: int = 30 * 60
    session_lifetime: int = 12 * 60 * 60

    # Maximum number of registry requests one API request keeps in flight.
    registry_concurrency: int = 8
    # Seconds to wait for the registry: connecting, and then for each response.
    registry_connect_timeout: float = 5.0
    registry_read_timeout: float = 30.0

    # Maximum size of a request body in bytes.
    max_body_bytes: int = 256 * 1024

    log_level: str = "INFO"

    @property
    def embedded(self) -> bool:
        return self.registry_url is None

    @property
    def effective_registry_url(self) -> str:
        if self.registry_url is not None:
            return self.registry_url.rstrip("/")
        return f"http://127.0.0.1:{self.registry_port}"

    @property
    def effective_database_url(self) -> str:
        if self.database_url is not None:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'state.db'}"

    @property
    def registry_dir(self) -> Path:
        """Directory of the embedded registry: its generated configuration and its storage."""
        return self.data_dir / "registry"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def initial_password_file(self) -> Path:
        return self.data_dir / "initial-admin-password"
