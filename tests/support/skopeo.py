"""Run skopeo 1.9 against the test registry, which serves plain HTTP on 127.0.0.1.

Every command passes ``--tls-verify=false`` (or its source and destination
forms) because skopeo only falls back to plain HTTP when TLS verification is off.
References without a transport get ``docker://`` in front.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Sequence
from pathlib import Path

from tests.support import oci

logger = logging.getLogger(__name__)

SKOPEO = "skopeo"
# Seconds one skopeo command may take. Pushing one small test image to the local
# registry took about 0.1 s on a 2-core test machine.
COMMAND_TIMEOUT = 120.0


class SkopeoError(Exception):
    """A skopeo command exited with a non-zero status. ``stderr`` contains its message."""

    def __init__(self, command: Sequence[str], returncode: int, stderr: str) -> None:
        super().__init__(
            f"skopeo failed with exit code {returncode}: {' '.join(command)}\n{stderr.strip()}"
        )
        self.command = list(command)
        self.returncode = returncode
        self.stderr = stderr


def push(
    layout_dir: Path,
    tag: str,
    dest: str,
    *,
    all_images: bool = False,
    preserve_digests: bool = False,
    creds: str | None = None,
    authfile: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Copy the image that tests.support.oci wrote under ``tag`` to ``dest``.

    ``dest`` is "127.0.0.1:PORT/repo:tag" or a full "docker://..." reference. The
    source is ``oci:LAYOUT_DIR:TAG``, or the ``dir:`` copy of an image written with
    Docker media types. Without ``all_images`` skopeo copies only the child of an
    index that matches the machine's platform, and pushes that child under the tag.
    """
    command = ["copy", "--dest-tls-verify=false"]
    if all_images:
        command.append("--all")
    if preserve_digests:
        command.append("--preserve-digests")
    command += _credential_options("--dest-creds", "--dest-authfile", creds, authfile)
    command += [_source_reference(layout_dir, tag), _docker_reference(dest)]
    return run(command)


def pull(
    src: str,
    dest_dir: Path,
    tag: str,
    *,
    all_images: bool = False,
    creds: str | None = None,
    authfile: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Copy ``src`` from the registry into the OCI layout ``dest_dir`` under ``tag``."""
    command = ["copy", "--src-tls-verify=false"]
    if all_images:
        command.append("--all")
    command += _credential_options("--src-creds", "--src-authfile", creds, authfile)
    command += [_docker_reference(src), f"oci:{dest_dir}:{tag}"]
    return run(command)


def inspect_raw(
    ref: str, *, creds: str | None = None, authfile: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Fetch the manifest of ``ref`` as stored in the registry, as the ``stdout`` text."""
    command = ["inspect", "--raw", "--tls-verify=false"]
    command += _credential_options("--creds", "--authfile", creds, authfile)
    command.append(_docker_reference(ref))
    return run(command)


def delete(
    ref: str, *, creds: str | None = None, authfile: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Delete the manifest of ``ref``, which removes every tag that points at it."""
    command = ["delete", "--tls-verify=false"]
    command += _credential_options("--creds", "--authfile", creds, authfile)
    command.append(_docker_reference(ref))
    return run(command)


def run(arguments: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """Run ``skopeo ARGUMENTS`` and return the finished process, or raise SkopeoError."""
    command = [SKOPEO, *arguments]
    logger.debug("running %s", _redacted(command))
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    if result.returncode != 0:
        raise SkopeoError(_redacted(command), result.returncode, result.stderr)
    return result


def _credential_options(
    creds_option: str, authfile_option: str, creds: str | None, authfile: Path | None
) -> list[str]:
    options = []
    if creds is not None:
        options.append(f"{creds_option}={creds}")
    if authfile is not None:
        options.append(f"{authfile_option}={authfile}")
    return options


def _source_reference(layout_dir: Path, tag: str) -> str:
    docker_dir = layout_dir / oci.DOCKER_DIR_NAME / tag
    return oci.source_reference(layout_dir, tag, docker_media_types=docker_dir.is_dir())


def _docker_reference(reference: str) -> str:
    if "://" in reference:
        return reference
    return f"docker://{reference}"


def _redacted(command: Sequence[str]) -> list[str]:
    """Replace the password of any ``--*creds=USER:PASSWORD`` option with ``***``."""
    redacted = []
    for argument in command:
        option, separator, value = argument.partition("=")
        if separator and option.endswith("creds") and ":" in value:
            user = value.split(":", 1)[0]
            argument = f"{option}={user}:***"
        redacted.append(argument)
    return redacted
