"""``nerve-registry audit``: read the audit log of an MS through its API."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import click
from rich.markup import escape

from nerve_registry.cli.client import Connection, client_options, open_registry
from nerve_registry.cli.errors import exits_on_errors
from nerve_registry.cli.output import print_json, print_table

AUDIT_PATH = "nerve/registry/audit"
# The API returns at most this many events per request.
MAX_PAGE = 1000
_RELATIVE_TIME = re.compile(r"(\d+)([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@click.command()
@click.option(
    "--limit",
    type=click.IntRange(1),
    default=50,
    show_default=True,
    help="Maximum number of events, newest first.",
)
@click.option(
    "--since",
    default=None,
    help="Only events at or after this time: RFC 3339 (2024-05-01T12:00:00Z) or an age "
    "such as 30m, 12h, 7d.",
)
@click.option("--until", default=None, help="Only events before this time, in the form of --since.")
@click.option("--actor", default=None, help="Only events of this account (or local:OS_USER).")
@click.option(
    "--action",
    default=None,
    help="Only events of this action, e.g. tag.delete, login.failure, token.grant, account.role.",
)
@client_options
@exits_on_errors
def audit(
    limit: int,
    since: str | None,
    until: str | None,
    actor: str | None,
    action: str | None,
    connection: Connection,
) -> None:
    """Show the audit log of the MS, newest first; needs an administrator account.

    The log records deletions, failed logins and lockouts, account and role
    changes, shares, and registry tokens that allow push or delete, each with
    the actor, the target, the digest where there is one, the time and the
    client address.
    """
    filters: dict[str, Any] = {}
    if since:
        filters["since"] = parse_time(since, "--since")
    if until:
        filters["until"] = parse_time(until, "--until")
    if actor:
        filters["actor"] = actor
    if action:
        filters["action"] = action

    with open_registry(connection) as registry:
        events = _fetch(registry.ms, filters, limit)

    if connection.as_json:
        print_json({"events": events})
        return

    rows = [
        [
            entry["time"],
            escape(entry["actor"]),
            entry["action"],
            escape(entry["target"]),
            entry["digest"] or "-",
            entry["clientAddress"] or "-",
            escape(entry["detail"]),
        ]
        for entry in events
    ]
    print_table(
        ["TIME", "ACTOR", "ACTION", "TARGET", "DIGEST", "FROM", "DETAIL"],
        rows,
        empty="No audit events match.",
    )


def _fetch(ms: Any, filters: dict[str, Any], limit: int) -> list[dict[str, Any]]:
    """Read pages until ``limit`` events or the end of the log."""
    events: list[dict[str, Any]] = []
    before: int | None = None
    while len(events) < limit:
        params = {**filters, "limit": min(limit - len(events), MAX_PAGE)}
        if before is not None:
            params["before"] = before
        page = ms.get(AUDIT_PATH, params=params, accepted_status=[200]).json()
        events.extend(page["events"])
        before = page.get("next")
        if before is None:
            break
    return events


def parse_time(value: str, option: str, *, now: datetime | None = None) -> str:
    """Turn an age such as ``12h`` into an RFC 3339 time; pass other values through checked."""
    match = _RELATIVE_TIME.fullmatch(value.strip())
    if match:
        seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        try:
            moment = (now or datetime.now(UTC)) - timedelta(seconds=seconds)
        except OverflowError as error:
            raise click.BadParameter(
                f"{value!r} reaches back too far.", param_hint=option
            ) from error
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    try:
        datetime.fromisoformat(value)
    except ValueError as error:
        raise click.BadParameter(
            f"{value!r} is neither an RFC 3339 time (2024-05-01T12:00:00Z) nor an age "
            "such as 30m, 12h or 7d.",
            param_hint=option,
        ) from error
    return value
