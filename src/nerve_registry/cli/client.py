"""Options and the MS connection shared by the commands that talk to a running MS."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from nerve_lib import InternalRegistry, MSHandle

R = TypeVar("R")

DEFAULT_MS_URL = "http://127.0.0.1:8080"


@dataclass(frozen=True)
class Connection:
    """MS address, account and output format of one client command."""

    ms_url: str
    user: str
    password_stdin: bool
    ca_cert: str | None
    insecure: bool
    as_json: bool


def client_options(command: Callable[..., R]) -> Callable[..., R]:
    """Add the options that locate the MS, select the account and choose the output format.

    The command receives them together as the keyword argument ``connection``.
    """

    @functools.wraps(command)
    def with_connection(
        *args: Any,
        ms_url: str,
        user: str,
        password_stdin: bool,
        ca_cert: str | None,
        insecure: bool,
        as_json: bool,
        **kwargs: Any,
    ) -> R:
        connection = Connection(ms_url, user, password_stdin, ca_cert, insecure, as_json)
        return command(*args, connection=connection, **kwargs)

    options = [
        click.option(
            "--json",
            "as_json",
            is_flag=True,
            help="Print the MS response as JSON instead of a table.",
        ),
        click.option(
            "--insecure",
            is_flag=True,
            help="Do not verify the MS's TLS certificate.",
        ),
        click.option(
            "--ca-cert",
            type=click.Path(exists=True, dir_okay=False),
            envvar="MS_CA_CERT",
            default=None,
            help="CA certificate bundle that signed the MS's TLS certificate.  [env: MS_CA_CERT]",
        ),
        click.option(
            "--password-stdin",
            is_flag=True,
            help="Read the password from the first line of standard input instead of MS_PSW.",
        ),
        click.option(
            "--user",
            envvar="MS_USR",
            default="",
            help="Account name; the password comes from MS_PSW, --password-stdin or a prompt.  "
            "[env: MS_USR]",
        ),
        click.option(
            "--ms-url",
            envvar="MS_URL",
            default=DEFAULT_MS_URL,
            show_default=True,
            help="MS address: a host name (https is used) or an http(s) URL.  [env: MS_URL]",
        ),
    ]
    decorated: Callable[..., R] = with_connection
    for option in options:
        decorated = option(decorated)
    return decorated


@contextmanager
def open_registry(connection: Connection) -> Iterator[InternalRegistry]:
    """Log in to the MS and yield its registry client; log out afterwards."""
    # nerve_lib logs at INFO by default; a command line prints only warnings unless asked.
    os.environ.setdefault("LOGGING_LEVEL", "WARNING")

    if not connection.user:
        raise click.UsageError("No account given: pass --user or set MS_USR.")

    password = _password(connection)
    verify: bool | str = True
    if connection.insecure:
        verify = False
    elif connection.ca_cert:
        verify = connection.ca_cert

    try:
        handle = MSHandle(connection.ms_url, connection.user, password, verify=verify)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="'--ms-url' / MS_URL") from error

    with handle:
        handle.login()
        yield InternalRegistry(handle)


def _password(connection: Connection) -> str:
    """Return the password from standard input, MS_PSW or a prompt, in that order."""
    if connection.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise click.UsageError(
                "--password-stdin was given, but standard input has no password."
            )
        return password

    password = os.environ.get("MS_PSW", "")
    if password:
        return password

    if not sys.stdin.isatty():
        raise click.UsageError("No password given: set MS_PSW or pass --password-stdin.")
    prompted: str = click.prompt(f"Password for {connection.user}", hide_input=True, err=True)
    return prompted


def fetch_json(connection: Connection, path: str) -> Any:
    """Log in, GET ``path`` of the MS API, log out, and return the decoded JSON body."""
    with open_registry(connection) as registry:
        return registry.ms.get(path, accepted_status=[200]).json()
