"""Settings of the MS registry service, with the defaults of the embedded installation."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_REGISTRY_PORT = 5000

# Host addresses that mean "every interface": a client cannot connect to them.
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})  # noqa: S104 - compared, not bound


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

    # Base URL under which clients reach this service. The registry sends
    # PUBLIC_URL/auth/token to Docker clients as its token realm.
    public_url: str | None = None
    # PEM certificate (chain) and key for HTTPS. The embedded registry uses the
    # same pair when registry_tls is set.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    registry_tls: bool = False
    # Address the embedded registry listens on.
    registry_host: str = "127.0.0.1"

    # Seconds that a registry token issued by the token endpoint stays valid.
    token_lifetime: int = 300

    # Failed logins (API login and token endpoint) within login_failure_window
    # seconds, per account name and per client address, before further
    # attempts are rejected for login_lockout seconds. The response to each
    # further failure is delayed, starting at login_failure_delay seconds.
    login_max_failures: int = 10
    login_max_failures_per_address: int = 50
    login_failure_window: int = 15 * 60
    login_lockout: int = 15 * 60
    login_failure_delay: float = 0.5

    log_level: str = "INFO"

    @property
    def embedded(self) -> bool:
        return self.registry_url is None

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    @property
    def effective_public_url(self) -> str:
        """Return ``public_url``, or a URL built from the scheme, host and port that serve the API.

        A wildcard host (``0.0.0.0``, ``::``) is replaced by the machine's fully
        qualified host name, because clients cannot connect to a wildcard.
        """
        if self.public_url:
            return self.public_url.rstrip("/")

        scheme = "https" if self.tls else "http"
        host = socket.getfqdn() if self.host in WILDCARD_HOSTS else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"{scheme}://{host}:{self.port}"

    @property
    def token_realm(self) -> str:
        return f"{self.effective_public_url}/auth/token"

    @property
    def embedded_registry_url(self) -> str:
        """URL under which the service reaches its embedded registry.

        That is loopback, unless the registry listens on one specific other address.
        """
        scheme = "https" if self.registry_tls else "http"
        host = self.registry_host
        if host in WILDCARD_HOSTS or host in ("localhost", "127.0.0.1"):
            host = "127.0.0.1"
        elif ":" in host:
            host = f"[{host}]"
        return f"{scheme}://{host}:{self.registry_port}"

    @property
    def effective_registry_url(self) -> str:
        if self.registry_url is not None:
            return self.registry_url.rstrip("/")
        return self.embedded_registry_url

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

    @property
    def key_dir(self) -> Path:
        """Directory of the key that signs registry tokens and of its certificate."""
        return self.data_dir / "keys"
