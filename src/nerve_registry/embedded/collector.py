"""Run the registry's own garbage collector, ``docker-registry garbage-collect CONFIG``.

The collector marks every blob that a manifest in a repository's revisions
references and deletes the other blobs. It never runs with
``--delete-untagged``: in Distribution 2.8 that mode also deletes the untagged
child manifests of multi-arch indexes that are still tagged, which breaks
those images. Untagged manifests are removed by the prune instead.

The caller must keep the registry read-only (or stopped) while this runs: a
manifest pushed between the mark and the sweep could lose blobs it references.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from nerve_registry.embedded.errors import EmbeddedRegistryError

logger = logging.getLogger(__name__)

# Last lines of the collector's output kept in the run record.
OUTPUT_TAIL_LINES = 20

_SUMMARY_RE = re.compile(
    r"(\d+) blobs marked, (\d+) blobs and (\d+) manifests eligible for deletion"
)


@dataclass(frozen=True)
class CollectionResult:
    """Counts from the collector's summary line, None when it printed none, and the line itself."""

    blobs_marked: int | None
    blobs_deleted: int | None
    summary: str


async def collect_garbage(
    binary: str, config_path: Path, *, log_path: Path, time_limit: float
) -> CollectionResult:
    """Run the collector against ``config_path``, append its output to ``log_path``.

    Raises EmbeddedRegistryError when it exits with a non-zero status or runs
    longer than ``time_limit`` seconds (it is killed then).
    """
    command = [binary, "garbage-collect", str(config_path)]
    logger.info("Starting garbage collection: %s", " ".join(command))
    log_path.parent.mkdir(parents=True, exist_ok=True)

    process = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), time_limit)
    except asyncio.CancelledError:
        # The service is stopping. A collector left running would delete blobs that
        # pushes to the registry, writable again after the stop, still need.
        logger.warning("Stopping garbage collection (pid %d): the service stops", process.pid)
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        raise
    except TimeoutError as error:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        raise EmbeddedRegistryError(
            f"Garbage collection did not finish within {time_limit:g} s and was stopped. "
            f"No blob that a manifest references is lost, but some garbage may remain; "
            "run it again."
        ) from error

    text = output.decode("utf-8", errors="replace")
    with log_path.open("a", encoding="utf-8") as log:
        log.write(text if text.endswith("\n") or not text else text + "\n")

    tail = "\n".join(deque(text.rstrip().splitlines(), maxlen=OUTPUT_TAIL_LINES))
    if process.returncode != 0:
        raise EmbeddedRegistryError(
            f"Garbage collection failed with exit code {process.returncode}. Last lines of "
            f"its output ({log_path} has all of it):\n{tail}"
        )

    match = _SUMMARY_RE.search(text)
    result = CollectionResult(
        blobs_marked=int(match.group(1)) if match else None,
        blobs_deleted=int(match.group(2)) if match else None,
        summary=match.group(0) if match else "",
    )
    logger.info(
        "Garbage collection finished: %s blobs marked, %s blobs deleted",
        result.blobs_marked,
        result.blobs_deleted,
    )
    return result
