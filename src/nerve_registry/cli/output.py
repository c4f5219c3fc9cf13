"""Rendering of command results: rich tables for people, JSON for scripts."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

import click
from rich.console import Console
from rich.table import Table

STATUS_STYLES = {
    "available": "green",
    "missing": "red",
    "incomplete": "yellow",
    "invalid": "magenta",
}


# Width of tables written to a pipe or file, where no terminal width applies;
# wide enough that grep and awk see one row per line.
PIPE_WIDTH = 240


def stdout_console() -> Console:
    width = None if sys.stdout.isatty() else PIPE_WIDTH
    return Console(soft_wrap=False, highlight=False, width=width)


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False))


def print_table(columns: Sequence[str], rows: Sequence[Sequence[str]], *, empty: str) -> None:
    """Print rows as a table, or the ``empty`` sentence to stderr when there are none."""
    if not rows:
        click.echo(empty, err=True)
        return

    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*row)

    # Columns are padded to equal width; the padding after the last one is dropped.
    console = stdout_console()
    with console.capture() as captured:
        console.print(table)
    lines = captured.get().splitlines()
    click.echo("\n".join(line.rstrip() for line in lines), color=console.is_terminal)


def human_size(size: int) -> str:
    """Format a byte count with binary units, e.g. ``1.5 MiB``."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def short_digest(digest: str | None) -> str:
    """Return ``sha256:`` and the first 12 hex digits, as container tools show digests."""
    if not digest:
        return "-"
    algorithm, _, hex_digits = digest.partition(":")
    return f"{algorithm}:{hex_digits[:12]}"


def styled_status(status: str) -> str:
    style = STATUS_STYLES.get(status)
    return f"[{style}]{status}[/{style}]" if style else status
