"""``nerve-registry share``: let accounts pull repositories outside their namespace.

Like ``user``, these commands open the state database directly, so they run
on the host of the service. Administrators elsewhere use the API endpoints
``/nerve/registry/shares``.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape

from nerve_registry.cli.errors import exits_on_errors
from nerve_registry.cli.options import state_options
from nerve_registry.cli.output import print_json, print_table
from nerve_registry.cli.users import state_session
from nerve_registry.domain.configs import format_timestamp
from nerve_registry.store.accounts import share as add_share
from nerve_registry.store.accounts import unshare
from nerve_registry.store.audit import local_actor
from nerve_registry.store.shares import list_shares


@click.group()
def share() -> None:
    """Share repositories with accounts for pulling.

    A PATTERN is a repository name (team/app), a name followed by '/*'
    (team/* for every repository under team/) or '*' for every repository.
    Shares grant pull only. Removing a share takes effect at the next token
    request; tokens already issued stay valid until they expire.
    """


@share.command("add")
@click.argument("account")
@click.argument("pattern")
@state_options
@exits_on_errors
def add(account: str, pattern: str, data_dir: Path, database_url: str | None) -> None:
    """Let ACCOUNT pull the repositories that match PATTERN."""
    with state_session(data_dir, database_url) as session:
        created = add_share(session, account, pattern, actor=local_actor())
        share_id = created.id

    click.echo(f"Shared '{pattern}' with account '{account}' (share {share_id}).")


@share.command("list")
@click.argument("account", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@state_options
@exits_on_errors
def list_command(
    account: str | None, as_json: bool, data_dir: Path, database_url: str | None
) -> None:
    """List the shares, of every account or of ACCOUNT."""
    with state_session(data_dir, database_url) as session:
        entries = [
            {
                "id": entry.id,
                "account": entry.user.name,
                "pattern": entry.pattern,
                "createdAt": format_timestamp(entry.created_at),
                "createdBy": entry.created_by,
            }
            for entry in list_shares(session, account)
        ]

    if as_json:
        print_json({"shares": entries})
        return

    rows = [
        [
            str(entry["id"]),
            escape(str(entry["account"])),
            escape(str(entry["pattern"])),
            str(entry["createdAt"]),
            escape(str(entry["createdBy"])),
        ]
        for entry in entries
    ]
    print_table(["ID", "ACCOUNT", "PATTERN", "CREATED", "BY"], rows, empty="No shares.")


@share.command("rm")
@click.argument("share_id", metavar="ID", type=click.IntRange(1))
@state_options
@exits_on_errors
def remove(share_id: int, data_dir: Path, database_url: str | None) -> None:
    """Remove the share ID (see 'share list')."""
    with state_session(data_dir, database_url) as session:
        removed = unshare(session, share_id, actor=local_actor())
        description = f"'{removed.pattern}' for account '{removed.user.name}'"

    click.echo(f"Removed share {share_id}: {description}.")
