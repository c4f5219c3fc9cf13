"""Exception handlers: the one place where errors become ``{"errorCode", "message"}`` responses."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from nerve_registry.api.middleware import printable_path
from nerve_registry.domain.references import shown_value
from nerve_registry.errors import CredentialsRequiredError, MaintenanceError, NerveRegistryError

logger = logging.getLogger(__name__)

# Fields whose rejected values are never repeated in a message or a log line.
SECRET_FIELDS = frozenset({"secret", "password", "refresh_token", "token"})

# The token endpoint also sends errors in the Docker registry form
# {"errors": [{"code", "message"}]}, which Docker registry client libraries parse.
TOKEN_ENDPOINT_PATH = "/auth/token"  # noqa: S105 - a URL path, not a password
_DOCKER_ERROR_CODES = {
    401: "UNAUTHORIZED",
    403: "DENIED",
    429: "TOOMANYREQUESTS",
    503: "UNAVAILABLE",
}

_HTTP_ERROR_CODES = {
    400: "INVALID_REQUEST",
    403: "NOT_AUTHENTICATED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "REQUEST_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
}


def error_response(
    status: int,
    error_code: str,
    message: str,
    headers: dict[str, str] | None = None,
    *,
    docker_form: bool = False,
) -> JSONResponse:
    content: dict[str, object] = {"errorCode": error_code, "message": message}
    if docker_form:
        code = _DOCKER_ERROR_CODES.get(status, "UNKNOWN")
        content["errors"] = [{"code": code, "message": message}]
    return JSONResponse(status_code=status, content=content, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(NerveRegistryError, _handle_domain_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _handle_validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _handle_http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _handle_unexpected_error)


async def _handle_domain_error(request: Request, error: NerveRegistryError) -> JSONResponse:
    path = printable_path(request.url.path)
    if isinstance(error, MaintenanceError):
        # Expected while an operator or garbage collection keeps the registry read-only.
        logger.info("%s %s rejected during maintenance", request.method, path)
    elif error.status_code >= 500:
        logger.error("%s %s failed: %s", request.method, path, error.message)
    else:
        logger.info("%s %s rejected: %s", request.method, path, error.error_code)

    headers: dict[str, str] = {}
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    if isinstance(error, CredentialsRequiredError):
        headers["WWW-Authenticate"] = 'Basic realm="nerve-registry", charset="UTF-8"'
    return error_response(
        error.status_code,
        error.error_code,
        error.message,
        headers or None,
        docker_form=request.url.path == TOKEN_ENDPOINT_PATH,
    )


async def _handle_validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    # FastAPI reads a body as JSON only without a Content-Type or with a JSON one.
    content_type = request.headers.get("content-type", "")
    if content_type and "json" not in content_type.lower():
        message = (
            "The request body must be JSON sent with Content-Type application/json, "
            f"not {shown_value(content_type)}."
        )
    else:
        message = describe_validation_errors(error.errors())
    logger.info("%s %s rejected: %s", request.method, printable_path(request.url.path), message)
    return error_response(
        400, "INVALID_REQUEST", message, docker_form=request.url.path == TOKEN_ENDPOINT_PATH
    )


async def _handle_http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
    code = _HTTP_ERROR_CODES.get(error.status_code, "HTTP_ERROR")
    message = error.detail if isinstance(error.detail, str) else "The request failed."
    path = printable_path(request.url.path)
    if error.status_code == 400:
        # FastAPI raises this when the body cannot be read as text, e.g. invalid UTF-8.
        message = "The request body is not valid JSON: it could not be decoded as UTF-8."
        logger.info("%s %s rejected: %s", request.method, path, message)
    elif error.status_code == 404:
        message = f"No endpoint {request.method} {path}; see /docs for the API."
    elif error.status_code == 405:
        message = f"Method {request.method} is not allowed on {path}."
    return error_response(
        error.status_code,
        code,
        message,
        dict(error.headers or {}),
        docker_form=request.url.path == TOKEN_ENDPOINT_PATH,
    )


async def _handle_unexpected_error(request: Request, error: Exception) -> JSONResponse:
    logger.exception("Unexpected error on %s %s", request.method, printable_path(request.url.path))
    return error_response(
        500, "INTERNAL_ERROR", "The service failed unexpectedly; the service log has the details."
    )


def describe_validation_errors(errors: Sequence[Any]) -> str:
    """Turn pydantic's error list into one sentence per problem, each naming the field."""
    sentences = [_describe_one(entry) for entry in errors[:5]]
    if len(errors) > 5:
        sentences.append(f"{len(errors) - 5} more problems were found.")
    return " ".join(sentences)


def _describe_one(entry: dict[str, Any]) -> str:
    kind = entry.get("type", "")
    location = [part for part in entry.get("loc", ()) if part != "body"]
    field = _field_name(location)

    if kind == "json_invalid":
        return "The request body is not valid JSON."
    if kind == "missing" and not location:
        return "The request needs a JSON body."
    if kind == "missing":
        return f"Field '{field}' is required."
    if kind in ("model_attributes_type", "dict_type") and len(location) == 0:
        return "The request body must be a JSON object."

    text = str(entry.get("msg", "is invalid")).rstrip(".")
    if not location:
        return f"The request body is invalid: {text}."
    if kind == "extra_forbidden":
        return f"Field '{field}' is not part of this request; check its spelling."
    if any(part in SECRET_FIELDS for part in location):
        return f"Field '{field}' is invalid: {text}."
    return f"Field '{field}' is invalid: {text} (got {shown_value(entry.get('input'))})."


def _field_name(location: list[Any]) -> str:
    name = ""
    for part in location:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += f".{part}" if name else str(part)
    return name
