"""Entry point of ``nerve-registry``: one place that turns errors into exit codes.

Exit status 0 on success, 1 when an operation fails (or a checked image is
not available), 2 on usage errors. Data goes to stdout, messages to stderr.
Subcommands are imported on first use, so the client commands start without
loading the server's dependencies.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from nerve_registry import __version__

# Subcommand name -> "module:attribute" of its click command.
COMMANDS = {
    "audit": "nerve_registry.cli.audit:audit",
    "gc": "nerve_registry.cli.cleanup:gc",
    "images": "nerve_registry.cli.images:images",
    "maintenance": "nerve_registry.cli.cleanup:maintenance",
    "policy": "nerve_registry.cli.policies:policy",
    "prune": "nerve_registry.cli.cleanup:prune",
    "rm": "nerve_registry.cli.images:remove",
    "runs": "nerve_registry.cli.cleanup:runs",
    "schedule": "nerve_registry.cli.policies:schedule",
    "serve": "nerve_registry.cli.serve:serve",
    "share": "nerve_registry.cli.shares:share",
    "status": "nerve_registry.cli.images:status",
    "tags": "nerve_registry.cli.images:tags",
    "untagged": "nerve_registry.cli.cleanup:untagged",
    "user": "nerve_registry.cli.users:user",
}


class LazyGroup(click.Group):
    """A click group that imports each subcommand's module only when it runs."""

    def __init__(self, *args: Any, lazy_commands: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = lazy_commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self.lazy_commands.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)

        module_name, attribute = target.split(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        return command


EPILOG = """\b
Every command except serve, user and share connects to the MS named by
--ms-url or MS_URL and logs in as --user or MS_USR with the password from
MS_PSW, --password-stdin or a prompt. serve, user and share open the state
directly.

\b
Exit status: 0 on success, 1 when an operation fails or a checked image is
not available, 2 on usage errors.
"""


@click.group(
    cls=LazyGroup,
    lazy_commands=COMMANDS,
    epilog=EPILOG,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="nerve-registry")
def cli() -> None:
    """Manage the images in a Management System's registry, and run the MS registry service."""


def main() -> None:
    try:
        cli.main(prog_name="nerve-registry")
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
