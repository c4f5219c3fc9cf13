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
from rich.markup import escape
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nerve_registry.cli.errors import OperationFailed, exits_on_errors
from nerve_registry.cli.options import state_options
from nerve_registry.cli.output import print_json, print_table
from nerve_registry.config import Settings
from nerve_registry.domain.configs import format_timestamp
from nerve_registry.store.accounts import (
    add_account,
    change_password,
    change_role,
    remove_account,
)
from nerve_registry.store.audit import local_actor
from nerve_registry.store.database import (
    create_database_engine,
    create_schema,
    session_factory,
    transaction,
)
from nerve_registry.store.sessions import LoginSession
from nerve_registry.store.users import Role, list_users


@click.group()
def user() -> None:
    """Manage the accounts that log in to the MS and to its registry.

    An account with the role 'user' pushes, pulls and deletes under its own
    namespace NAME/ and pulls what an administrator shared with it. The role
    'admin' may do everything. Changing a password or role, or removing an
    account, ends its sessions at once.
    """


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
        add_account(session, name, password, role, actor=local_actor())

    click.echo(f"Created account '{name}' with role '{role.value}'.")


@user.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@state_options
@exits_on_errors
def list_accounts(as_json: bool, data_dir: Path, database_url: str | None) -> None:
    """List the accounts with their role, creation time and open sessions."""
    with state_session(data_dir, database_url) as session:
        per_user = select(LoginSession.user_id, func.count()).group_by(LoginSession.user_id)
        counts = {user_id: count for user_id, count in session.execute(per_user)}
        accounts = [
            {
                "name": account.name,
                "role": account.role,
                "createdAt": format_timestamp(account.created_at),
                "passwordChangedAt": format_timestamp(account.password_changed_at),
                "sessions": counts.get(account.id, 0),
            }
            for account in list_users(session)
        ]

    if as_json:
        print_json({"accounts": accounts})
        return

    rows = [
        [
            escape(str(entry["name"])),
            str(entry["role"]),
            str(entry["createdAt"]),
            str(entry["passwordChangedAt"]),
            str(entry["sessions"]),
        ]
        for entry in accounts
    ]
    print_table(
        ["NAME", "ROLE", "CREATED", "PASSWORD CHANGED", "SESSIONS"], rows, empty="No accounts."
    )


@user.command("passwd")
@click.argument("name")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input instead of prompting.",
)
@state_options
@exits_on_errors
def passwd(name: str, password_stdin: bool, data_dir: Path, database_url: str | None) -> None:
    """Set a new password for the account NAME and end its sessions."""
    password = read_password(password_stdin)

    with state_session(data_dir, database_url) as session:
        ended = change_password(session, name, password, actor=local_actor())

    click.echo(f"Changed the password of account '{name}'; ended {ended} session(s).")


@user.command("role")
@click.argument("name")
@click.argument("role", type=click.Choice([role.value for role in Role]))
@state_options
@exits_on_errors
def role(name: str, role: str, data_dir: Path, database_url: str | None) -> None:
    """Give the account NAME the role ROLE and end its sessions.

    The last administrator keeps the role 'admin'.
    """
    with state_session(data_dir, database_url) as session:
        ended = change_role(session, name, Role(role), actor=local_actor())

    click.echo(f"Account '{name}' has the role '{role}'; ended {ended} session(s).")


@user.command("rm")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@state_options
@exits_on_errors
def remove(name: str, yes: bool, data_dir: Path, database_url: str | None) -> None:
    """Remove the account NAME with its sessions and shares.

    Its images stay in the registry; an administrator can delete them. The
    last administrator cannot be removed.
    """
    if not yes:
        if not sys.stdin.isatty():
            raise click.UsageError("Standard input is not a terminal: pass --yes to confirm.")
        click.confirm(f"Remove account '{name}'?", abort=True, err=True)

    with state_session(data_dir, database_url) as session:
        ended = remove_account(session, name, actor=local_actor())

    click.echo(f"Removed account '{name}'; ended {ended} session(s).")


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
