"""``nerve-registry serve``: run the MS registry service."""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import socket
import ssl
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

import click

from nerve_registry.cli.errors import OperationFailed, exits_on_errors
from nerve_registry.cli.options import state_options
from nerve_registry.config import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_REGISTRY_PORT,
    WILDCARD_HOSTS,
    Settings,
)
from nerve_registry.embedded.leftover import stop_leftover_registries
from nerve_registry.embedded.registry_config import registry_config_path
from nerve_registry.store.database import (
    create_database_engine,
    create_schema,
    session_factory,
    transaction,
)
from nerve_registry.store.users import INITIAL_ADMIN, ensure_initial_admin

logger = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


@click.command()
@state_options
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Address the API listens on.")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="Port of the API.",
)
@click.option(
    "--registry-port",
    type=click.IntRange(1, 65535),
    default=DEFAULT_REGISTRY_PORT,
    show_default=True,
    help="Port of the embedded registry.",
)
@click.option(
    "--registry-host",
    default="127.0.0.1",
    show_default=True,
    help="Address the embedded registry listens on. Use 0.0.0.0 to let Docker clients on "
    "other hosts push and pull; they then need TLS (--registry-tls).",
)
@click.option(
    "--registry-url",
    envvar="NERVE_REGISTRY_URL",
    default=None,
    help="Use the registry at this URL instead of starting the embedded one.  "
    "[env: NERVE_REGISTRY_URL]",
)
@click.option(
    "--session-idle-timeout",
    type=click.IntRange(1),
    default=Settings.session_idle_timeout,
    show_default=True,
    help="Seconds without a request after which a session ends.",
)
@click.option(
    "--session-lifetime",
    type=click.IntRange(1),
    default=Settings.session_lifetime,
    show_default=True,
    help="Seconds after login at which a session ends, however active.",
)
@click.option(
    "--public-url",
    envvar="NERVE_PUBLIC_URL",
    default=None,
    help="Base URL under which clients reach this service, e.g. https://ms.example:8443. "
    "The registry sends Docker clients to PUBLIC_URL/auth/token for tokens. Default: built "
    "from --host, --port and whether TLS is on.  [env: NERVE_PUBLIC_URL]",
)
@click.option(
    "--tls-cert",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="PEM certificate (with its chain) to serve HTTPS; needs --tls-key.",
)
@click.option(
    "--tls-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="PEM private key of --tls-cert.",
)
@click.option(
    "--registry-tls",
    is_flag=True,
    help="Serve the embedded registry over HTTPS with --tls-cert and --tls-key as well.",
)
@click.option(
    "--token-lifetime",
    type=click.IntRange(10, 24 * 60 * 60),
    default=Settings.token_lifetime,
    show_default=True,
    help="Seconds a registry token from /auth/token stays valid.",
)
@click.option(
    "--login-max-failures",
    type=click.IntRange(1),
    default=Settings.login_max_failures,
    show_default=True,
    help="Failed logins for one account name within --login-failure-window before the "
    "name is locked out.",
)
@click.option(
    "--login-max-failures-per-address",
    type=click.IntRange(1),
    default=Settings.login_max_failures_per_address,
    show_default=True,
    help="Failed logins from one client address within --login-failure-window before the "
    "address is locked out.",
)
@click.option(
    "--login-failure-window",
    type=click.IntRange(1),
    default=Settings.login_failure_window,
    show_default=True,
    help="Seconds over which failed logins are counted.",
)
@click.option(
    "--login-lockout",
    type=click.IntRange(1),
    default=Settings.login_lockout,
    show_default=True,
    help="Seconds a locked-out account name or address is rejected with 429.",
)
@click.option(
    "--login-failure-delay",
    type=click.FloatRange(0, 10),
    default=Settings.login_failure_delay,
    show_default=True,
    help="Seconds by which the response to the second counted failure of an account name or "
    "client address is delayed; the delay doubles with each further failure, up to 10 s. "
    "0 turns the delay off.",
)
@click.option(
    "--registry-concurrency",
    type=click.IntRange(1, 256),
    default=Settings.registry_concurrency,
    show_default=True,
    help="Maximum number of registry requests one API request keeps in flight.",
)
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    envvar="LOGGING_LEVEL",
    default="INFO",
    show_default=True,
    help="Level of the service log on stderr.  [env: LOGGING_LEVEL]",
)
@exits_on_errors
def serve(
    data_dir: Path,
    database_url: str | None,
    host: str,
    port: int,
    registry_port: int,
    registry_url: str | None,
    registry_host: str,
    session_idle_timeout: int,
    session_lifetime: int,
    public_url: str | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    registry_tls: bool,
    token_lifetime: int,
    login_max_failures: int,
    login_max_failures_per_address: int,
    login_failure_window: int,
    login_lockout: int,
    login_failure_delay: float,
    registry_concurrency: int,
    log_level: str,
) -> None:
    """Run the MS registry service.

    By default the service starts and supervises its own docker-registry
    process on 127.0.0.1:REGISTRY_PORT, with storage and state under
    --data-dir. The registry accepts only tokens that this service signs
    (key in DATA_DIR/keys), which Docker clients get from /auth/token with an
    MS account. On the first start the service creates the account 'admin'
    with a random password, prints the password once and writes it to
    DATA_DIR/initial-admin-password.
    """
    import uvicorn

    from nerve_registry.api.app import create_app

    configure_logging(log_level)
    settings = Settings(
        data_dir=data_dir.expanduser().resolve(),
        host=host,
        port=port,
        registry_port=registry_port,
        registry_url=registry_url,
        registry_host=registry_host,
        database_url=database_url,
        session_idle_timeout=session_idle_timeout,
        session_lifetime=session_lifetime,
        public_url=public_url,
        tls_cert=tls_cert.resolve() if tls_cert else None,
        tls_key=tls_key.resolve() if tls_key else None,
        registry_tls=registry_tls,
        token_lifetime=token_lifetime,
        login_max_failures=login_max_failures,
        login_max_failures_per_address=login_max_failures_per_address,
        login_failure_window=login_failure_window,
        login_lockout=login_lockout,
        login_failure_delay=login_failure_delay,
        registry_concurrency=registry_concurrency,
        log_level=log_level.upper(),
    )

    check_tls_options(settings)
    check_public_url(settings.public_url)
    lock = check_can_start(settings)
    create_initial_admin(settings)

    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        server_header=False,
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
    )
    scheme = "https" if settings.tls else "http"
    logger.info(
        "Serving the MS API on %s://%s:%d; registry token realm %s",
        scheme,
        settings.host,
        settings.port,
        settings.token_realm,
    )
    warn_about_reachability(settings)
    try:
        uvicorn.Server(config).run()
    finally:
        lock.close()


def lock_data_dir(data_dir: Path) -> TextIO:
    """Hold an exclusive lock on the data directory for as long as the service runs.

    A second service on the same directory would share the embedded registry's
    storage and stop its registry process as a leftover, so it is refused.
    """
    lock_file = (data_dir / "service.lock").open("a+")
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as error:
        lock_file.close()
        raise OperationFailed(
            f"Another nerve-registry service already uses the data directory {data_dir}; "
            "stop it first or choose another --data-dir."
        ) from error
    return lock_file


def warn_about_reachability(settings: Settings) -> None:
    """Log the settings that commonly keep Docker clients on other hosts from logging in."""
    if settings.public_url is None and settings.host in WILDCARD_HOSTS:
        logger.warning(
            "No --public-url is set, so the registry sends Docker clients to %s for tokens. "
            "Set --public-url if clients reach this host under another name.",
            settings.token_realm,
        )

    loopback = settings.registry_host in ("127.0.0.1", "localhost", "::1")
    if settings.embedded and not loopback and not settings.registry_tls:
        logger.warning(
            "The registry listens on %s without TLS; Docker clients on other hosts accept "
            "it only when it is listed in their insecure-registries. Consider --registry-tls.",
            settings.registry_host,
        )


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format=LOG_FORMAT)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


def check_tls_options(settings: Settings) -> None:
    """Fail unless certificate and key come together, load, and belong to each other."""
    if (settings.tls_cert is None) != (settings.tls_key is None):
        raise click.UsageError("--tls-cert and --tls-key must be given together.")

    if settings.registry_tls and settings.tls_cert is None:
        raise click.UsageError("--registry-tls needs --tls-cert and --tls-key.")

    if settings.tls_cert is None or settings.tls_key is None:
        return

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(settings.tls_cert, settings.tls_key)
    except (ssl.SSLError, OSError) as error:
        raise OperationFailed(
            f"Cannot use the certificate {settings.tls_cert} with the key {settings.tls_key}: "
            f"{error}. Both must be PEM files, the key unencrypted and matching the certificate."
        ) from error


def check_public_url(public_url: str | None) -> None:
    if public_url is None:
        return

    parts = urlsplit(public_url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise click.BadParameter(
            f"{public_url!r} is not an http or https URL without query and fragment, "
            "such as https://ms.example:8443.",
            param_hint="--public-url",
        )


def check_can_start(settings: Settings) -> TextIO:
    """Fail with a clear message before start-up for the problems a user can fix.

    Returns the lock on the data directory, which the caller holds while serving.
    """
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as error:
        raise OperationFailed(
            f"Cannot create the data directory {settings.data_dir}: {error}"
        ) from error

    if not os.access(settings.data_dir, os.W_OK):
        raise OperationFailed(f"The data directory {settings.data_dir} is not writable.")

    lock = lock_data_dir(settings.data_dir)
    ensure_port_free(settings.host, settings.port, "--port")

    if settings.embedded:
        if shutil.which(settings.registry_binary) is None:
            raise OperationFailed(
                f"'{settings.registry_binary}' was not found. Install the Debian package "
                "docker-registry, or pass --registry-url to use an existing registry."
            )
        stop_leftover_registries(registry_config_path(settings))
        ensure_port_free(settings.registry_host, settings.registry_port, "--registry-port")

    return lock


def ensure_port_free(host: str, port: int, option: str) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise OperationFailed(
                f"Cannot listen on {host}:{port} ({error.strerror}); "
                f"choose another port with {option}."
            ) from error


def create_initial_admin(settings: Settings) -> None:
    """Create the first administrator when the state has no account, and show its password once."""
    engine = create_database_engine(settings.effective_database_url)
    try:
        create_schema(engine)
        with transaction(session_factory(engine)) as session:
            password = ensure_initial_admin(session)
    finally:
        engine.dispose()

    if password is None:
        return

    write_secret_file(settings.initial_password_file, password + "\n")
    # Printed, never logged: the log may be collected where the console is not.
    click.echo(
        f"Created the account '{INITIAL_ADMIN}' with the password: {password}\n"
        f"The password is also stored in {settings.initial_password_file} (mode 0600)."
    )
    logger.info(
        "Created the initial account '%s'; its password is in %s",
        INITIAL_ADMIN,
        settings.initial_password_file,
    )


def write_secret_file(path: Path, text: str) -> None:
    """Write ``text`` to a new file readable only by its owner."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    os.chmod(path, 0o600)
