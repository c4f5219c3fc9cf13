"""``policy`` and ``schedule``: edit retention policies and cleanup schedules on an MS."""

from __future__ import annotations

from typing import Any

import click
from rich.markup import escape

from nerve_registry.cli.client import Connection, client_options, fetch_json, open_registry
from nerve_registry.cli.errors import exits_on_errors
from nerve_registry.cli.output import print_json, print_table


@click.group()
def policy() -> None:
    """Manage retention policies: which tags a prune deletes."""


@policy.command("list")
@client_options
@exits_on_errors
def policy_list(connection: Connection) -> None:
    """List the policies in the order they are matched (priority, then name)."""
    result = fetch_json(connection, "nerve/registry/policies")

    if connection.as_json:
        print_json(result)
        return
    rows = [_policy_row(entry) for entry in result["policies"]]
    print_table(
        ["NAME", "PRIORITY", "REPOSITORIES", "RULES", "ENABLED"], rows, empty="No policies."
    )


@policy.command("show")
@click.argument("name")
@client_options
@exits_on_errors
def policy_show(name: str, connection: Connection) -> None:
    """Show the policy NAME."""
    result = fetch_json(connection, f"nerve/registry/policies/{name}")
    print_json(result)


@policy.command("set")
@click.argument("name")
@click.option(
    "--repository",
    "-r",
    "repositories",
    multiple=True,
    required=True,
    help="Repository glob the policy governs, such as 'ci/**' (repeatable).",
)
@click.option(
    "--priority", type=int, default=100, show_default=True, help="Lower is matched first."
)
@click.option("--keep-last", type=click.IntRange(0), default=None, help="Keep the newest N tags.")
@click.option(
    "--older-than",
    default=None,
    help="Delete tags older than this duration, such as 30d or 1w2d (units w, d, h, m, s).",
)
@click.option(
    "--include",
    default=None,
    help="Only tags that this RE2 regular expression matches in full are candidates.",
)
@click.option(
    "--exclude",
    default=None,
    help="Tags that this RE2 regular expression matches in full are never candidates.",
)
@click.option("--protect", multiple=True, help="A tag name never to delete (repeatable).")
@click.option(
    "--untagged-older-than",
    default=None,
    help="Delete untagged manifests pushed longer ago than this duration, such as 30d "
    "(embedded registry).",
)
@click.option(
    "--time-source",
    type=click.Choice(["created", "pushed"]),
    default="created",
    show_default=True,
    help="Order tags by the image's created time or by push time; each falls back to the other.",
)
@click.option("--disabled", is_flag=True, help="Store the policy without applying it.")
@client_options
@exits_on_errors
def policy_set(
    name: str,
    repositories: tuple[str, ...],
    priority: int,
    keep_last: int | None,
    older_than: str | None,
    include: str | None,
    exclude: str | None,
    protect: tuple[str, ...],
    untagged_older_than: str | None,
    time_source: str,
    disabled: bool,
    connection: Connection,
) -> None:
    """Create the policy NAME, or replace it with exactly these options."""
    body = {
        "repositories": list(repositories),
        "priority": priority,
        "keepLast": keep_last,
        "olderThan": older_than,
        "include": include,
        "exclude": exclude,
        "protect": list(protect),
        "untaggedOlderThan": untagged_older_than,
        "timeSource": time_source,
        "enabled": not disabled,
    }
    with open_registry(connection) as registry:
        response = registry.ms.put(
            f"nerve/registry/policies/{name}", json=body, accepted_status=[200, 201]
        )

    if connection.as_json:
        print_json(response.json())
    else:
        verb = "Created" if response.status_code == 201 else "Replaced"
        click.echo(f"{verb} policy '{name}'. Preview it with: nerve-registry prune --dry-run")


@policy.command("delete")
@click.argument("name")
@client_options
@exits_on_errors
def policy_delete(name: str, connection: Connection) -> None:
    """Delete the policy NAME."""
    with open_registry(connection) as registry:
        registry.ms.delete(f"nerve/registry/policies/{name}", accepted_status=[204])
    click.echo(f"Deleted policy '{name}'.")


@click.group()
def schedule() -> None:
    """Manage schedules that run prune, gc or both at cron times."""


@schedule.command("list")
@client_options
@exits_on_errors
def schedule_list(connection: Connection) -> None:
    """List the schedules with their next run time."""
    result = fetch_json(connection, "nerve/registry/schedules")

    if connection.as_json:
        print_json(result)
        return
    for entry in result["schedules"]:
        if entry["error"]:
            name = entry["name"]
            click.echo(f"Warning: schedule '{name}' cannot run: {entry['error']}", err=True)
    rows = [
        [
            escape(entry["name"]),
            escape(entry["cron"]),
            entry["timezone"],
            entry["action"],
            escape(", ".join(entry["policies"])) if entry["policies"] is not None else "(enabled)",
            entry["nextRunAt"] or "-",
            _last_run(entry["lastRun"]),
        ]
        for entry in result["schedules"]
    ]
    print_table(
        ["NAME", "CRON", "TIME ZONE", "ACTION", "POLICIES", "NEXT RUN", "LAST RUN"],
        rows,
        empty="No schedules.",
    )


@schedule.command("set")
@click.argument("name")
@click.option("--cron", required=True, help="Cron expression, such as '0 3 * * *'.")
@click.option("--timezone", default="UTC", show_default=True, help="IANA time zone of --cron.")
@click.option(
    "--action",
    type=click.Choice(["prune", "gc", "prune-gc"]),
    required=True,
    help="What runs: a prune, garbage collection, or a prune followed by it.",
)
@click.option(
    "--policy",
    "policies",
    multiple=True,
    help="Apply only this existing policy, also if disabled (repeatable). Default: every "
    "enabled policy at the time of each run.",
)
@click.option(
    "--untagged-older-than",
    default=None,
    help="Also delete untagged manifests pushed longer ago than this duration (such as 30d, "
    "or 0s for all) in every repository, and remove repositories left empty.",
)
@click.option("--disabled", is_flag=True, help="Store the schedule without running it.")
@client_options
@exits_on_errors
def schedule_set(
    name: str,
    cron: str,
    timezone: str,
    action: str,
    policies: tuple[str, ...],
    untagged_older_than: str | None,
    disabled: bool,
    connection: Connection,
) -> None:
    """Create the schedule NAME, or replace it with exactly these options."""
    body: dict[str, Any] = {
        "cron": cron,
        "timezone": timezone,
        "action": action,
        "policies": list(policies) or None,
        "untaggedOlderThan": untagged_older_than,
        "enabled": not disabled,
    }
    with open_registry(connection) as registry:
        response = registry.ms.put(
            f"nerve/registry/schedules/{name}", json=body, accepted_status=[200, 201]
        )

    result = response.json()
    if connection.as_json:
        print_json(result)
    else:
        click.echo(f"Schedule '{name}' saved; next run at {result['nextRunAt'] or '-'}.")


@schedule.command("delete")
@click.argument("name")
@client_options
@exits_on_errors
def schedule_delete(name: str, connection: Connection) -> None:
    """Delete the schedule NAME."""
    with open_registry(connection) as registry:
        registry.ms.delete(f"nerve/registry/schedules/{name}", accepted_status=[204])
    click.echo(f"Deleted schedule '{name}'.")


@schedule.command("run")
@click.argument("name")
@client_options
@exits_on_errors
def schedule_run(name: str, connection: Connection) -> None:
    """Start the action of schedule NAME now, without a confirmation."""
    with open_registry(connection) as registry:
        run = registry.ms.post(
            f"nerve/registry/schedules/{name}/run",
            json={},
            accepted_status=[202],
            timeout=(7.5, 900.0),
        ).json()

    if connection.as_json:
        print_json(run)
    else:
        click.echo(f"Started run {run['id']}; follow it with: nerve-registry runs {run['id']}")


def _last_run(run: dict[str, Any] | None) -> str:
    if run is None:
        return "-"
    return f"{run['startedAt']} (run {run['id']}, {run['status']})"


def _policy_row(entry: dict[str, Any]) -> list[str]:
    rules = []
    if entry["keepLast"] is not None:
        rules.append(f"keep last {entry['keepLast']}")
    if entry["olderThan"]:
        rules.append(f"older than {entry['olderThan']}")
    if entry["include"]:
        rules.append(f"include /{entry['include']}/")
    if entry["exclude"]:
        rules.append(f"exclude /{entry['exclude']}/")
    if entry["protect"]:
        rules.append("protect " + ", ".join(entry["protect"]))
    if entry["untaggedOlderThan"]:
        rules.append(f"untagged older than {entry['untaggedOlderThan']}")
    return [
        escape(entry["name"]),
        str(entry["priority"]),
        escape(", ".join(entry["repositories"])),
        escape("; ".join(rules) or "-"),
        "yes" if entry["enabled"] else "no",
    ]
