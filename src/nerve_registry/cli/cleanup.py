"""Cleanup commands run against an MS: prune, gc, runs, untagged and maintenance.

They call the MS's cleanup endpoints with the MSHandle of nerve_lib, which
has no methods for them, and need an administrator account.
"""

from __future__ import annotations

import time
from typing import Any

import click
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from nerve_lib import MSHandle
from nerve_registry.cli.client import Connection, client_options, fetch_json, open_registry
from nerve_registry.cli.errors import OperationFailed, exits_on_errors
from nerve_registry.cli.output import human_size, print_json, print_table, short_digest

# (connect, read) seconds. Planning reads the whole registry, which can take minutes.
PLAN_TIMEOUT = (7.5, 900.0)
# Seconds between two requests for a run's progress.
POLL_INTERVAL = 0.5
FINISHED = ("succeeded", "partial", "failed", "interrupted")


@click.command()
@click.option(
    "--policy",
    "policies",
    multiple=True,
    help="Apply only this policy, also if disabled (repeatable). Default: every enabled policy.",
)
@click.option("--no-policies", is_flag=True, help="Apply no policy; only untagged cleanup.")
@click.option(
    "--untagged-older-than",
    default=None,
    help="Also delete untagged manifests pushed longer ago than this duration (such as 30d, "
    "or 0s for all) in every repository, and remove repositories left empty.",
)
@click.option("--gc", "collect", is_flag=True, help="Run garbage collection after the prune.")
@click.option("--yes", "-y", "assume_yes", is_flag=True, help="Apply without asking.")
@click.option("--dry-run", is_flag=True, help="Show the plan and stop.")
@click.option("--show-kept", is_flag=True, help="Also list the tags the policies keep, and why.")
@client_options
@exits_on_errors
def prune(
    policies: tuple[str, ...],
    no_policies: bool,
    untagged_older_than: str | None,
    collect: bool,
    assume_yes: bool,
    dry_run: bool,
    show_kept: bool,
    connection: Connection,
) -> None:
    """Delete what the retention policies select, after showing the plan.

    The plan lists each tag, untagged manifest and empty repository to delete,
    with the bytes garbage collection frees once it is gone. Applying deletes
    exactly these entries; a tag pushed again since the plan is skipped.
    Exits with status 1 if the run failed or an entry failed.
    """
    if no_policies and policies:
        raise click.UsageError("--policy and --no-policies cannot be used together.")
    body: dict[str, Any] = {"policies": [] if no_policies else list(policies) or None}
    if untagged_older_than is not None:
        body["untaggedOlderThan"] = untagged_older_than

    with open_registry(connection) as registry:
        handle = registry.ms
        # Maintenance rejects tag deletions, so check it before the plan reads the registry.
        if not dry_run and not no_policies:
            _ensure_no_maintenance(handle)
        plan = handle.post(
            "nerve/registry/prune/plan", json=body, accepted_status=[200], timeout=PLAN_TIMEOUT
        ).json()

        if connection.as_json and (dry_run or not plan["entries"]):
            print_json(plan)
            return
        if not connection.as_json:
            _show_plan(plan, show_kept=show_kept)
        if dry_run or not plan["entries"]:
            return

        if not assume_yes:
            _confirm(f"Delete {_count(len(plan['entries']), 'entry', 'entries')}?")
        run = handle.post(
            "nerve/registry/prune/apply",
            json={"planId": plan["id"], "gc": collect},
            accepted_status=[202],
        ).json()
        run = _follow(handle, run, label="Deleting", quiet=connection.as_json)

    _finish(run, as_json=connection.as_json)


@click.command()
@click.option("--yes", "-y", "assume_yes", is_flag=True, help="Start without asking.")
@client_options
@exits_on_errors
def gc(assume_yes: bool, connection: Connection) -> None:
    """Collect garbage: free the storage of deleted images (embedded registry only).

    The registry is read-only while this runs: pulls work, pushes fail with
    405 Method not allowed and can be retried afterwards.
    """
    if not assume_yes:
        _confirm("The registry rejects pushes while garbage collection runs. Start it?")

    with open_registry(connection) as registry:
        run = registry.ms.post("nerve/registry/gc", json={}, accepted_status=[202]).json()
        run = _follow(registry.ms, run, label="Collecting garbage", quiet=connection.as_json)

    _finish(run, as_json=connection.as_json)


@click.command()
@click.argument("run_id", required=False, type=click.IntRange(1))
@click.option(
    "--limit",
    type=click.IntRange(1, 1000),
    default=20,
    show_default=True,
    help="Maximum number of runs to list, newest first.",
)
@client_options
@exits_on_errors
def runs(run_id: int | None, limit: int, connection: Connection) -> None:
    """List recent prune and gc runs, or show run RUN_ID in detail."""
    with open_registry(connection) as registry:
        if run_id is not None:
            run = registry.ms.get(f"nerve/registry/runs/{run_id}", accepted_status=[200]).json()
        else:
            listed = registry.ms.get(
                "nerve/registry/runs", params={"limit": limit}, accepted_status=[200]
            ).json()

    if run_id is not None:
        if connection.as_json:
            print_json(run)
        else:
            _show_run(run)
        return

    if connection.as_json:
        print_json(listed)
        return
    rows = [
        [
            str(run["id"]),
            run["kind"],
            run["status"],
            run["startedAt"] or "-",
            escape(run["triggeredBy"]),
            str(len(run["deleted"])),
            str(len(run["skipped"]) + len(run["failed"])),
            human_size(run["freedBytes"]) if run["freedBytes"] is not None else "-",
        ]
        for run in listed["runs"]
    ]
    print_table(
        ["RUN", "KIND", "STATUS", "STARTED", "BY", "DELETED", "SKIPPED/FAILED", "FREED"],
        rows,
        empty="No runs yet.",
    )


@click.command()
@client_options
@exits_on_errors
def untagged(connection: Connection) -> None:
    """List untagged manifests and repositories without tags.

    Remove them with: nerve-registry prune --no-policies --untagged-older-than 0s
    """
    with open_registry(connection) as registry:
        report = registry.ms.get(
            "nerve/registry/untagged", accepted_status=[200], timeout=PLAN_TIMEOUT
        ).json()

    if connection.as_json:
        print_json(report)
        return

    if not report["manifestsListed"]:
        click.echo(
            "The registry is external, so its untagged manifests cannot be listed.", err=True
        )
    rows = [
        [
            escape(entry["repository"]),
            short_digest(entry["digest"]),
            human_size(entry["size"]),
            entry["pushed"] or "-",
            entry["created"] or "-",
        ]
        for entry in report["manifests"]
    ]
    print_table(
        ["REPOSITORY", "DIGEST", "SIZE", "PUSHED", "CREATED"], rows, empty="No untagged manifests."
    )
    empty = [
        [escape(entry["name"]), str(entry["untaggedManifests"])] for entry in report["repositories"]
    ]
    print_table(["REPOSITORY WITHOUT TAGS", "UNTAGGED MANIFESTS"], empty, empty="")


@click.group()
def maintenance() -> None:
    """Show or switch the registry's read-only maintenance mode."""


@maintenance.command("status")
@client_options
@exits_on_errors
def maintenance_status(connection: Connection) -> None:
    """Show whether the registry is in read-only maintenance."""
    state = fetch_json(connection, "nerve/registry/maintenance")
    _show_maintenance(state, as_json=connection.as_json)


@maintenance.command("on")
@click.option("--reason", default="", help="Reason that the errors of rejected deletions show.")
@client_options
@exits_on_errors
def maintenance_on(reason: str, connection: Connection) -> None:
    """Make the registry read-only until 'maintenance off': pulls work, pushes fail."""
    _switch_maintenance(connection, {"active": True, "reason": reason})


@maintenance.command("off")
@client_options
@exits_on_errors
def maintenance_off(connection: Connection) -> None:
    """End the maintenance that 'maintenance on' started."""
    _switch_maintenance(connection, {"active": False})


def _switch_maintenance(connection: Connection, body: dict[str, Any]) -> None:
    with open_registry(connection) as registry:
        state = registry.ms.post(
            "nerve/registry/maintenance", json=body, accepted_status=[200], timeout=(7.5, 120.0)
        ).json()
    _show_maintenance(state, as_json=connection.as_json)


def _show_maintenance(state: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        print_json(state)
    elif state["active"]:
        read_only = "read-only" if state["registryReadOnly"] else "not switched (external)"
        click.echo(f"Maintenance since {state['since']}: {state['reason']} (registry {read_only})")
    else:
        click.echo("No maintenance: the registry accepts pushes.")


def _ensure_no_maintenance(handle: MSHandle) -> None:
    state = handle.get("nerve/registry/maintenance", accepted_status=[200]).json()
    if state["active"]:
        raise OperationFailed(
            f"The registry is in read-only maintenance since {state['since']} "
            f"({state['reason']}), so no tag can be deleted. Preview the plan with --dry-run, "
            "or end the maintenance with 'nerve-registry maintenance off' if an operator "
            "turned it on."
        )


def _count(number: int, singular: str, plural: str) -> str:
    return f"{number} {singular if number == 1 else plural}"


def _show_plan(plan: dict[str, Any], *, show_kept: bool) -> None:
    for warning in plan["warnings"]:
        click.echo(f"Warning: {warning}", err=True)

    if show_kept:
        kept_rows = [
            [
                escape(k["repository"]),
                escape(k["tag"]),
                short_digest(k["digest"]),
                escape(k["reason"]),
            ]
            for k in plan["kept"]
        ]
        print_table(["REPOSITORY", "KEPT TAG", "DIGEST", "WHY"], kept_rows, empty="No tag kept.")

    rows = [
        [
            entry["kind"],
            escape(entry["repository"]),
            escape(entry["tag"] or "-"),
            short_digest(entry["digest"]),
            entry["time"] or "-",
            human_size(entry["freedBytes"]),
            escape(entry["reason"]),
        ]
        for entry in plan["entries"]
    ]
    print_table(
        ["KIND", "REPOSITORY", "TAG", "DIGEST", "TIME", "FREES", "WHY"],
        rows,
        empty="Nothing to delete.",
    )
    if plan["entries"]:
        click.echo(
            f"{_count(len(plan['entries']), 'entry', 'entries')}; garbage collection frees "
            f"about {human_size(plan['freedBytes'])} once they are deleted. Plan {plan['id']}.",
            err=True,
        )


def _confirm(question: str) -> None:
    import sys

    if not sys.stdin.isatty():
        raise click.UsageError("Standard input is not a terminal: pass --yes to go ahead.")
    if not click.confirm(question, default=False, err=True):
        raise click.exceptions.Exit(1)


def _follow(handle: MSHandle, run: dict[str, Any], *, label: str, quiet: bool) -> dict[str, Any]:
    """Poll the run until it ends, with a progress bar on stderr unless ``quiet``."""
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=True,
        disable=quiet,
    )
    with progress:
        task = progress.add_task(label, total=run["progress"]["total"] or None)
        while run["status"] not in FINISHED:
            time.sleep(POLL_INTERVAL)
            run = handle.get(f"nerve/registry/runs/{run['id']}", accepted_status=[200]).json()
            progress.update(
                task, completed=run["progress"]["done"], total=run["progress"]["total"] or None
            )
    return run


def _finish(run: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        print_json(run)
    else:
        _show_run(run)

    if run["status"] in ("failed", "interrupted") or run["failed"]:
        raise OperationFailed(f"Run {run['id']} {run['status']}: {run['message']}")


def _show_run(run: dict[str, Any]) -> None:
    outcomes = [
        [
            outcome,
            entry["kind"],
            escape(_entry_name(entry)),
            escape(entry.get("message") or ""),
        ]
        for outcome in ("deleted", "skipped", "failed")
        for entry in run[outcome]
    ]
    outcomes += [
        ["not attempted", entry["kind"], escape(_entry_name(entry)), ""]
        for entry in run["notAttempted"]
    ]
    print_table(["OUTCOME", "KIND", "ENTRY", "MESSAGE"], outcomes, empty="")

    click.echo(f"Run {run['id']} ({run['kind']}, {run['triggeredBy']}): {run['status']}.")
    progress = run["progress"]
    click.echo(f"Steps done: {progress['done']} of {progress['total']}.")
    click.echo(
        f"Deleted {_count(len(run['deleted']), 'entry', 'entries')}, skipped "
        f"{len(run['skipped'])}, failed {len(run['failed'])}."
    )
    if run["estimatedFreedBytes"] is not None:
        click.echo(f"Planned to free: {human_size(run['estimatedFreedBytes'])}")
    if run["collection"] is not None:
        collection = run["collection"]
        click.echo(
            f"Garbage collection freed {human_size(collection['freedBytes'])} "
            f"({collection['freedBytes']} bytes); storage is now "
            f"{human_size(collection['storageBytesAfter'])}."
        )
    elif run["deleted"]:
        click.echo("Run 'nerve-registry gc' to free the space of the deleted entries.")
    if run["message"]:
        click.echo(run["message"])


def _entry_name(entry: dict[str, Any]) -> str:
    if entry["kind"] == "tag":
        return f"{entry['repository']}:{entry['tag']}"
    if entry["kind"] == "manifest":
        return f"{entry['repository']}@{entry['digest']}"
    return str(entry["repository"])
