"""``nerve-registry serve``: run the MS registry service."""

from __future__ import annotations

import logging
import os
import shutil
import socket
from pathlib import Path

import click

from nerve_registry.cli.errors import OperationFailed, exits_on_errors
from nerve_registry.cli.options import state_options
from nerve_registry.config import DEFAULT_HOST, DEFAULT_PORT, DEFAULT_REGISTRY_PORT, Settings
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
    help="Port of the embedded registry, which listens on 127.0.0.1 only.",
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
    session_idle_timeout: int,
    session_lifetime: int,
    registry_concurrency: int,
    log_level: str,
) -> None:
    """Run the MS registry service.

    By default the service starts and supervises its own docker-registry
    process on 127.0.0.1:REGISTRY_PORT, with storage and state under
    --data-dir. On the first start it creates the account 'admin' with a
    random password, prints the password once and writes it to
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
        database_url=database_url,
        session_idle_timeout=session_idle_timeout,
        session_lifetime=session_lifetime,
        registry_concurrency=registry_concurrency,
        log_level=log_level.upper(),
    )

    check_can_start(settings)
    create_initial_admin(settings)

    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        server_header=False,
    )
    logger.info("Serving the MS API on http://%s:%d", settings.host, settings.port)
    uvicorn.Server(config).run()


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format=LOG_FORMAT)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


def check_can_start(settings: Settings) -> None:
    """Fail with a clear message before start-up for the problems a user can fix."""
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as error:
        raise OperationFailed(
            f"Cannot create the data directory {settings.data_dir}: {error}"
        ) from error

    if not os.access(settings.data_dir, os.W_OK):
        raise OperationFailed(f"The data directory {settings.data_dir} is not writable.")

    ensure_port_free(settings.host, settings.port, "--port")

    if settings.embedded:
        if shutil.which(settings.registry_binary) is None:
            raise OperationFailed(
                f"'{settings.registry_binary}' was not found. Install the Debian package "
                "docker-registry, or pass --registry-url to use an existing registry."
            )
        ensure_port_free("127.0.0.1", settings.registry_port, "--registry-port")


def ensure_port_free(host: str, port: int, option: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
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
