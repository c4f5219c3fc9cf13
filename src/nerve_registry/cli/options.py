"""Options shared by the commands that open the service's state directly."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

from nerve_registry.config import default_data_dir

F = TypeVar("F", bound=Callable[..., object])


def state_options(command: F) -> F:
    """Add ``--data-dir`` and ``--database-url``, the two options that locate the state."""
    command = click.option(
        "--database-url",
        envvar="NERVE_DATABASE_URL",
        default=None,
        help="SQLAlchemy URL of the state database, e.g. postgresql+psycopg://USER@HOST/DB. "
        "Default: SQLite file state.db in the data directory.  [env: NERVE_DATABASE_URL]",
    )(command)
    command = click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        envvar="NERVE_DATA_DIR",
        default=default_data_dir,
        show_default="~/.local/share/nerve-registry",
        help="Directory for the embedded registry's storage, its configuration, the SQLite "
        "state and logs.  [env: NERVE_DATA_DIR]",
    )(command)
    return command
