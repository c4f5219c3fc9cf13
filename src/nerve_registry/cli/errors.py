"""Translation of library and service errors into click errors with exit status 1."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import click
from requests import RequestException
from requests.exceptions import SSLError

from nerve_lib import CheckStatusCodeError
from nerve_registry.errors import NerveRegistryError

P = ParamSpec("P")
R = TypeVar("R")


class OperationFailed(click.ClickException):
    """An operation failed; click prints ``Error: MESSAGE`` to stderr and exits with 1."""

    exit_code = 1


def exits_on_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn the errors a command can expect into exit status 1 with a one-line message."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except NerveRegistryError as error:
            raise OperationFailed(error.message) from error
        except CheckStatusCodeError as error:
            raise OperationFailed(describe_status_error(error)) from error
        except SSLError as error:
            raise OperationFailed(
                f"TLS with the MS failed: {error}. If the MS serves plain HTTP, give its address "
                "as http://HOST:PORT; for a private CA pass --ca-cert."
            ) from error
        except RequestException as error:
            raise OperationFailed(f"Could not reach the MS: {error}") from error

    return wrapper


def error_fields(error: CheckStatusCodeError) -> dict[str, object]:
    """Return ``errorCode``, ``message`` and ``status`` of a failed call, for JSON output."""
    try:
        body = json.loads(error.response_text or "")
    except ValueError:
        body = None

    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return {
            "errorCode": body.get("errorCode", "ERROR"),
            "message": body["message"],
            "status": error.status_code,
        }
    return {"errorCode": "HTTP_ERROR", "message": str(error.value), "status": error.status_code}


def describe_status_error(error: object) -> str:
    """Return the service's own message for a failed call, else the client's message."""
    status_code = getattr(error, "status_code", None)
    response_text = getattr(error, "response_text", "") or ""
    try:
        body = json.loads(response_text)
    except ValueError:
        body = None

    if isinstance(body, dict) and isinstance(body.get("message"), str):
        code = body.get("errorCode", "ERROR")
        return f"{body['message']} ({code}, HTTP {status_code})"

    return str(getattr(error, "value", error))
