"""The token endpoint that Docker clients call when the registry challenges them.

The embedded registry trusts only tokens signed by the service's key and
sends clients here (its ``auth.token.realm``). Two request forms work:

- ``GET /auth/token?service=..&scope=..&account=..`` with HTTP Basic
  credentials of an MS account, as ``docker login``, ``docker push`` and
  skopeo send it;
- ``POST /auth/token`` with an OAuth 2 form body (``grant_type=password``,
  ``username``, ``password``, ``service``, ``scope``), as containerd sends it.
  The service issues no refresh tokens, so ``grant_type=refresh_token`` is
  rejected, and Docker keeps the password instead of an identity token.

A token grants each requested scope only the actions the account may take
(``security.policy``): a denied scope is left out of the token, as the
Docker token protocol does it, and the registry then rejects the call.
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Query, Request
from fastapi.security import HTTPBasic
from starlette.concurrency import run_in_threadpool

from nerve_registry.api import maintenance
from nerve_registry.api.credentials import (
    VerifiedAccount,
    client_address,
    validate_identity,
    verify_password,
)
from nerve_registry.api.schemas import ErrorBody, TokenResponse
from nerve_registry.api.state import Services, services_of
from nerve_registry.domain.references import shown_value
from nerve_registry.errors import (
    CredentialsRequiredError,
    InvalidInputError,
    MaintenanceError,
    RegistryUnavailableError,
)
from nerve_registry.security.policy import WRITE_ACTIONS, AccessPolicy
from nerve_registry.security.scopes import MAX_SCOPES, Access, grant, parse_scopes
from nerve_registry.security.tokens import TOKEN_ISSUER, TOKEN_SERVICE, issue_registry_token
from nerve_registry.store.audit import AuditAction, record_event
from nerve_registry.store.database import transaction
from nerve_registry.store.shares import patterns_for
from nerve_registry.store.users import MAX_PASSWORD_LENGTH

logger = logging.getLogger(__name__)

TOKEN_PATH = "/auth/token"  # noqa: S105 - a URL path, not a password
# Longest accepted value of one query or form parameter, in characters.
MAX_PARAMETER_LENGTH = 8192
MAX_AUTHORIZATION_LENGTH = 4096
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"

router = APIRouter(tags=["registry token"])

_ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorBody, "description": "Invalid service, scope, account or form."},
    401: {"model": ErrorBody, "description": "No or invalid Basic credentials."},
    429: {
        "model": ErrorBody,
        "description": "Too many failed logins; the Retry-After header gives the seconds to wait.",
    },
    503: {
        "model": ErrorBody,
        "description": "Registry maintenance runs, so push and delete grants wait; pull works.",
    },
}


@dataclass(frozen=True)
class BasicCredentials:
    username: str
    password: str


class OptionalBasicCredentials(HTTPBasic):
    """HTTP Basic credentials or None; malformed credentials get 400 with a message.

    FastAPI's own HTTPBasic responds to every malformed header with a bare 401.
    Subclassing it keeps the ``basic`` security scheme in the OpenAPI document.
    """

    async def __call__(self, request: Request) -> BasicCredentials | None:  # type: ignore[override]
        return parse_basic_authorization(request.headers.get("authorization"))


def parse_basic_authorization(header: str | None) -> BasicCredentials | None:
    """Decode ``Basic base64(NAME:PASSWORD)``; None for no header or another scheme."""
    if header is None:
        return None

    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None

    if len(encoded) > MAX_AUTHORIZATION_LENGTH:
        raise InvalidInputError("The Authorization header is too long.")

    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as error:
        raise InvalidInputError(
            "The Authorization header is not valid Basic credentials: send "
            "'Basic ' and the base64 encoding of NAME:PASSWORD."
        ) from error

    username, separator, password = decoded.partition(":")
    if not separator:
        raise InvalidInputError(
            "The Basic credentials have no ':' between account name and password."
        )
    return BasicCredentials(username=username, password=password)


@router.get(
    TOKEN_PATH,
    response_model=TokenResponse,
    responses=_ERRORS,
    summary="Issue a registry token for the scopes the account may use (Docker token protocol)",
)
async def get_token(
    request: Request,
    credentials: Annotated[BasicCredentials | None, Depends(OptionalBasicCredentials())],
    service: Annotated[str | None, Query(max_length=MAX_PARAMETER_LENGTH)] = None,
    scope: Annotated[list[str] | None, Query()] = None,
    account: Annotated[str | None, Query(max_length=MAX_PARAMETER_LENGTH)] = None,
    client_id: Annotated[str | None, Query(max_length=MAX_PARAMETER_LENGTH)] = None,
    offline_token: Annotated[str | None, Query(max_length=MAX_PARAMETER_LENGTH)] = None,
) -> TokenResponse:
    """Docker clients send Basic credentials and one ``scope`` parameter per resource.

    ``account`` must name the same account as the credentials when given.
    ``client_id`` and ``offline_token`` are accepted and ignored: the service
    issues no refresh tokens.
    """
    services = services_of(request)
    requested = _parse_scope_values(scope or [])
    _check_service(service)

    if credentials is None:
        raise CredentialsRequiredError(
            "The token endpoint needs the Basic credentials of an MS account: log in first, "
            "for example with 'docker login' or 'skopeo login'."
        )
    username = validate_identity(credentials.username, "username")
    if account is not None and validate_identity(account, "account") != username:
        raise InvalidInputError(
            f"Parameter 'account' ({account!r}) does not match the account of the credentials."
        )

    return await _issue(services, request, username, credentials.password, requested)


@router.post(
    TOKEN_PATH,
    response_model=TokenResponse,
    responses=_ERRORS,
    summary="Issue a registry token for an OAuth 2 password grant",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                FORM_CONTENT_TYPE: {
                    "schema": {
                        "type": "object",
                        "required": ["grant_type", "username", "password"],
                        "properties": {
                            "grant_type": {"type": "string", "enum": ["password"]},
                            "username": {"type": "string"},
                            "password": {"type": "string", "format": "password"},
                            "service": {"type": "string"},
                            "scope": {
                                "type": "string",
                                "description": "Scopes separated by spaces.",
                            },
                            "client_id": {"type": "string"},
                            "access_type": {"type": "string"},
                        },
                    }
                }
            },
        }
    },
)
async def post_token(request: Request) -> TokenResponse:
    services = services_of(request)
    form = await _read_form(request)

    grant_type = form.get("grant_type")
    if grant_type != "password":
        raise InvalidInputError(
            f"Field 'grant_type' is {shown_value(grant_type)}: this service supports only "
            "'password' and issues no refresh tokens.",
            error_code="UNSUPPORTED_GRANT_TYPE",
        )

    requested = _parse_scope_values([form.get("scope", "")])
    _check_service(form.get("service"))

    username = validate_identity(_required(form, "username"), "username")
    password = _required(form, "password")
    return await _issue(services, request, username, password, requested)


async def _issue(
    services: Services,
    request: Request,
    username: str,
    password: str,
    requested: list[Access],
) -> TokenResponse:
    """Check the password, grant what the policy allows and sign the token.

    1. The password check is throttled and audited (``verify_password``).
    2. The account's role and shares decide the granted actions per scope.
    3. During maintenance a grant with push or delete is rejected with 503.
    4. The token is signed; a grant with push or delete is audited.
    """
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInputError(
            f"The password is longer than {MAX_PASSWORD_LENGTH} characters, the maximum."
        )
    if services.signing_key is None:
        raise RegistryUnavailableError("This service issues no registry tokens.")

    address = client_address(request)
    verified = await verify_password(
        services,
        username,
        password,
        address=address,
        channel=TOKEN_PATH,
        rejection=lambda: CredentialsRequiredError("Invalid account name or password."),
    )

    policy = await run_in_threadpool(_policy_of, services, verified)
    granted = grant(requested, policy.allowed_actions)
    writes = [entry for entry in granted if entry.actions & WRITE_ACTIONS]
    if writes and services.maintenance.active:
        reason = services.maintenance.reason or "registry maintenance"
        raise MaintenanceError(
            f"The registry is in maintenance ({reason}), so pushing and deleting are paused. "
            "Pulling still works. Try again later.",
            retry_after=maintenance.RETRY_AFTER,
        )

    issued = issue_registry_token(
        services.signing_key,
        subject=verified.name,
        audience=TOKEN_SERVICE,
        issuer=TOKEN_ISSUER,
        access=granted,
        lifetime_seconds=services.settings.token_lifetime,
    )
    summary = " ".join(str(entry) for entry in granted) or "no access"
    logger.info("Issued a registry token to %s from %s for %s", verified.name, address, summary)
    if writes:
        await run_in_threadpool(_audit_grant, services, verified.name, writes, address)

    body = issued.response_body()
    return TokenResponse(
        token=issued.token,
        access_token=issued.token,
        expires_in=issued.expires_in,
        issued_at=str(body["issued_at"]),
        scope=" ".join(str(entry) for entry in granted),
    )


def _policy_of(services: Services, account: VerifiedAccount) -> AccessPolicy:
    if account.role == "admin":
        return AccessPolicy.of(account.name, account.role)
    with transaction(services.database) as session:
        return AccessPolicy.of(account.name, account.role, patterns_for(session, account.id))


def _audit_grant(
    services: Services, account: str, writes: list[Access], address: str | None
) -> None:
    with transaction(services.database) as session:
        record_event(
            session,
            AuditAction.TOKEN_GRANT,
            actor=account,
            target=" ".join(str(entry) for entry in writes),
            client_address=address,
            detail=f"lifetime {services.settings.token_lifetime} s",
        )


def _parse_scope_values(values: list[str]) -> list[Access]:
    """Parse ``scope`` values; raise InvalidInputError (400) naming the bad one."""
    if len(values) > MAX_SCOPES:
        raise InvalidInputError(f"The request has more than {MAX_SCOPES} 'scope' parameters.")

    for value in values:
        if len(value) > MAX_PARAMETER_LENGTH:
            raise InvalidInputError(
                f"Parameter 'scope' is longer than {MAX_PARAMETER_LENGTH} characters."
            )
        if any(not character.isprintable() for character in value.replace(" ", "")):
            raise InvalidInputError(
                f"Parameter 'scope' contains control characters: {shown_value(value)}."
            )

    return parse_scopes(values)


def _check_service(service: str | None) -> None:
    if service is not None and service != TOKEN_SERVICE:
        raise InvalidInputError(
            f"Parameter 'service' is {shown_value(service)}, but this token endpoint issues "
            f"tokens for the service '{TOKEN_SERVICE}' only."
        )


async def _read_form(request: Request) -> dict[str, str]:
    """Decode an ``application/x-www-form-urlencoded`` body; repeated fields keep the first."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM_CONTENT_TYPE:
        raise InvalidInputError(
            f"The request body must be {FORM_CONTENT_TYPE}, not {shown_value(content_type)}."
        )

    body = await request.body()
    try:
        text = body.decode("utf-8")
        fields = parse_qs(text, keep_blank_values=True, strict_parsing=False, errors="strict")
    except (UnicodeDecodeError, ValueError) as error:
        raise InvalidInputError("The form body is not valid UTF-8 form encoding.") from error

    return {name: values[0] for name, values in fields.items() if values}


def _required(form: dict[str, str], name: str) -> str:
    value = form.get(name)
    if not value:
        raise InvalidInputError(f"Field '{name}' is required.")
    if len(value) > MAX_PARAMETER_LENGTH:
        raise InvalidInputError(f"Field '{name}' is longer than {MAX_PARAMETER_LENGTH} characters.")
    return value
