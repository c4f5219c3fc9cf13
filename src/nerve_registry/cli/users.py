"""``nerve-registry user``: manage MS accounts directly in the service's state database.

These commands open the database themselves, so they work while the service
runs (SQLite in WAL mode, or PostgreSQL) and before it ever started.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from sqlalchemy.orm import Session

from nerve_registry.cli.errors import OperationFailed, exits_on_errors
from nerve_registry.cli.options import state_options
from nerve_registry.config import Settings
from nerve_registry.store.database import (
    create_database_engine,
    create_schema,
    session_factory,
    transaction,
)
from nerve_registry.store.users import Role, create_user


@click.group()
def user() -> None:
    """Manage the accounts that log in to the MS."""


@user.command("add")
@click.argument("name")
@click.option("--admin", is_flag=True, help="Give the account the role 'admin' instead of 'user'.")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input instead of prompting.",
)
@state_options
@exits_on_errors
def add(
    name: str, admin: bool, password_stdin: bool, data_dir: Path, database_url: str | None
) -> None:
    """Add the account NAME."""
    password = read_password(password_stdin)
    role = Role.ADMIN if admin else Role.USER

    with state_session(data_dir, database_url) as session:
        create_user(session, name, password, role)

    click.echo(f"Created account '{name}' with role '{role.value}'.")


def read_password(from_stdin: bool) -> str:
    """Read a password from stdin's first line, or prompt twice on a terminal."""
    if from_stdin:
        line = sys.stdin.readline()
        password = line.rstrip("\r\n")
        if not password:
            raise OperationFailed("No password on standard input.")
        return password

    if not sys.stdin.isatty():
        raise click.UsageError(
            "Standard input is not a terminal: pass --password-stdin and pipe the password."
        )

    prompted: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return prompted


@contextmanager
def state_session(data_dir: Path, database_url: str | None) -> Iterator[Session]:
    """Open the state database that ``serve`` with the same options uses, in one transaction."""
    settings = Settings(data_dir=data_dir.expanduser().resolve(), database_url=database_url)
    if settings.database_url is None:
        state_file = settings.data_dir / "state.db"
        if not state_file.exists():
            # A mistyped --data-dir would otherwise add the account where no service looks.
            click.echo(
                f"Note: no state database at {state_file} yet; creating it. A service started "
                f"with --data-dir {settings.data_dir} will use it.",
                err=True,
            )
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)

    engine = create_database_engine(settings.effective_database_url)
    try:
        create_schema(engine)
        with transaction(session_factory(engine)) as session:
            yield session
    finally:
        engine.dispose()
