"""Login, logout and version: the endpoints every nerve_lib handle uses."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from starlette.concurrency import run_in_threadpool

from nerve_registry import __version__
from nerve_registry.api.credentials import (
    VerifiedAccount,
    client_address,
    validate_identity,
    verify_password,
)
from nerve_registry.api.schemas import ErrorBody, LoginRequest, LoginResponse, VersionResponse
from nerve_registry.api.state import Services, services_of
from nerve_registry.domain.configs import format_timestamp
from nerve_registry.errors import AuthenticationError
from nerve_registry.store.database import transaction, utcnow
from nerve_registry.store.sessions import close_session, open_session, purge_expired
from nerve_registry.store.users import find_user

router = APIRouter(tags=["session"])

_ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorBody, "description": "Invalid request body."},
    403: {"model": ErrorBody, "description": "Invalid account name or password."},
    429: {
        "model": ErrorBody,
        "description": "Too many failed logins for the account name or the client address; "
        "the Retry-After header gives the seconds to wait.",
    },
}


@router.post(
    "/auth/login",
    response_model=LoginResponse,
    responses=_ERRORS,
    summary="Log in and receive a session id in the 'sessionId' response header",
)
async def login(body: LoginRequest, request: Request, response: Response) -> LoginResponse:
    services = services_of(request)
    identity = validate_identity(body.identity, "identity")
    address = client_address(request)

    account = await verify_password(
        services,
        identity,
        body.secret,
        address=address,
        channel="/auth/login",
        rejection=lambda: AuthenticationError(
            "Invalid account name or password.", error_code="INVALID_CREDENTIALS"
        ),
    )
    session_id, result = await run_in_threadpool(_open_session, services, account, address)

    response.headers["sessionId"] = session_id
    return result


def _open_session(
    services: Services, account: VerifiedAccount, address: str | None
) -> tuple[str, LoginResponse]:
    """Open a session for the verified account, first deleting sessions that have ended."""
    now = utcnow()
    with transaction(services.database) as session:
        purge_expired(session, now=now, policy=services.session_policy)
        user = find_user(session, account.name)
        if user is None:
            # Removed between the password check and now.
            raise AuthenticationError(
                "Invalid account name or password.", error_code="INVALID_CREDENTIALS"
            )
        session_id = open_session(
            session, user, now=now, policy=services.session_policy, client_address=address
        )

    expires_at = now + timedelta(seconds=services.session_policy.lifetime)
    result = LoginResponse(
        username=account.name, role=account.role, expiresAt=format_timestamp(expires_at) or ""
    )
    return session_id, result


@router.get(
    "/auth/logout",
    status_code=204,
    responses={403: {"model": ErrorBody, "description": "No session to end."}},
    summary="End the session at once",
)
def logout(
    request: Request,
    sessionid: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    services = services_of(request)
    if not sessionid or len(sessionid) > 256:
        raise AuthenticationError("No session to end: the 'sessionid' header is missing.")

    with transaction(services.database) as session:
        if not close_session(session, sessionid):
            raise AuthenticationError("The session is unknown or has already ended.")

    return Response(status_code=204)


@router.get(
    "/nerve/update/cloud/current-version",
    response_model=VersionResponse,
    summary="Version of the MS registry service",
)
def current_version() -> VersionResponse:
    return VersionResponse(currentVersion=__version__)
