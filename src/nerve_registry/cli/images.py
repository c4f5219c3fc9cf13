"""``images``, ``tags``, ``status`` and ``rm``: the image commands, run against an MS."""

from __future__ import annotations

from typing import Any, TextIO

import click
from rich.markup import escape

from nerve_lib import CheckStatusCodeError
from nerve_registry.cli.client import Connection, client_options, open_registry
from nerve_registry.cli.errors import (
    OperationFailed,
    describe_status_error,
    error_fields,
    exits_on_errors,
)
from nerve_registry.cli.output import (
    human_size,
    print_json,
    print_table,
    short_digest,
    styled_status,
)

# The MS API takes at most this many references per status request.
STATUS_BATCH = 1000


@click.command()
@click.option(
    "--limit", type=click.IntRange(1), default=None, help="Maximum number of images to list."
)
@click.option(
    "--last", default="", help="List only images after this name (a previous page's 'next')."
)
@client_options
@exits_on_errors
def images(limit: int | None, last: str, connection: Connection) -> None:
    """List the images in the registry with their number of tags."""
    with open_registry(connection) as registry:
        page = registry.get_registry_images(last=last, limit=limit or 0)

    if connection.as_json:
        print_json(page)
        return

    rows = [[escape(image["name"]), str(image["tagCount"])] for image in page["images"]]
    print_table(["IMAGE", "TAGS"], rows, empty="No images.")
    if page.get("next"):
        click.echo(f"More images follow; continue with --last {page['next']}", err=True)


@click.command()
@click.argument("image")
@client_options
@exits_on_errors
def tags(image: str, connection: Connection) -> None:
    """List the tags of IMAGE with digest, size, creation time and platforms."""
    with open_registry(connection) as registry:
        result = registry.get_image_tags(image)

    if connection.as_json:
        print_json(result)
        return

    rows = [
        [
            escape(entry["tag"]),
            short_digest(entry["digest"]),
            human_size(entry["size"]),
            entry["created"] or "-",
            escape(", ".join(entry["platforms"]) or "-"),
            "index" if "index" in entry["mediaType"] or "list" in entry["mediaType"] else "image",
        ]
        for entry in result["tags"]
    ]
    print_table(
        ["TAG", "DIGEST", "SIZE", "CREATED", "PLATFORMS", "KIND"],
        rows,
        empty=f"{image} has no tags.",
    )


@click.command()
@click.argument("references", nargs=-1)
@click.option(
    "--file",
    "reference_file",
    type=click.File("r"),
    default=None,
    help="Read more references from this file, one per line; blank lines and lines starting "
    "with '#' are skipped ('-' reads standard input).",
)
@client_options
@exits_on_errors
def status(
    references: tuple[str, ...], reference_file: TextIO | None, connection: Connection
) -> None:
    """Check that each REFERENCE is present in the registry and complete.

    A reference is NAME (meaning NAME:latest), NAME:TAG or NAME@sha256:DIGEST.
    Any number of references may be given; they are sent in batches of 1000.
    Exits with status 1 unless every image is available.
    """
    reads_stdin = reference_file is not None and reference_file.name == "<stdin>"
    if connection.password_stdin and reads_stdin:
        raise click.UsageError("--password-stdin and --file - cannot both read standard input.")

    requested = list(references) + _references_from(reference_file)
    if not requested:
        raise click.UsageError("Name at least one image reference, or pass --file.")

    entries: list[dict[str, Any]] = []
    with open_registry(connection) as registry:
        for start in range(0, len(requested), STATUS_BATCH):
            batch = requested[start : start + STATUS_BATCH]
            entries += registry.check_image_status(batch)["images"]

    if connection.as_json:
        print_json({"images": entries})
    else:
        rows = [
            [
                escape(entry["image"]),
                styled_status(entry["status"]),
                short_digest(entry["digest"]),
                escape(entry["message"]),
            ]
            for entry in entries
        ]
        print_table(["IMAGE", "STATUS", "DIGEST", "MESSAGE"], rows, empty="Nothing checked.")

    if any(entry["status"] != "available" for entry in entries):
        raise click.exceptions.Exit(1)


def _references_from(reference_file: TextIO | None) -> list[str]:
    if reference_file is None:
        return []
    lines = (line.strip() for line in reference_file)
    return [line for line in lines if line and not line.startswith("#")]


@click.command("rm")
@click.argument("references", nargs=-1, required=True)
@client_options
@exits_on_errors
def remove(references: tuple[str, ...], connection: Connection) -> None:
    """Delete each IMAGE:TAG. Other tags on the same manifest stay.

    Deletion frees no disk space by itself; garbage collection does.
    Exits with status 1 if any deletion failed; the others still happen.
    """
    targets = [_split_image_tag(reference) for reference in references]
    results: list[dict[str, object]] = []
    failures = 0

    with open_registry(connection) as registry:
        for image, tag in targets:
            try:
                result = registry.delete_image_tag(image, tag)
            except CheckStatusCodeError as error:
                failures += 1
                click.echo(
                    f"Failed to delete {image}:{tag}: {describe_status_error(error)}", err=True
                )
                results.append(
                    {"image": image, "tag": tag, "deleted": False, **error_fields(error)}
                )
                continue

            results.append(result)
            if not connection.as_json:
                click.echo(f"Deleted {image}:{tag} ({result['digest']})")

    if connection.as_json:
        print_json({"deleted": results})
    if failures:
        raise OperationFailed(f"{failures} of {len(targets)} deletions failed.")


def _split_image_tag(reference: str) -> tuple[str, str]:
    """Split ``IMAGE:TAG`` at the last ':' after the last '/'."""
    if "@" in reference:
        raise click.BadParameter(
            f"{reference!r} names a digest. rm deletes tags: name them as IMAGE:TAG. Deleting by "
            "digest would remove every tag that points at the manifest.",
            param_hint="REFERENCES",
        )
    slash = reference.rfind("/")
    colon = reference.rfind(":")
    if colon <= slash or colon == len(reference) - 1:
        raise click.BadParameter(
            f"{reference!r} has no tag; name what to delete as IMAGE:TAG.", param_hint="REFERENCES"
        )
    return reference[:colon], reference[colon + 1 :]
