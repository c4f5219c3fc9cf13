"""Login, logout and version: the endpoints every nerve_lib handle uses."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response

from nerve_registry import __version__
from nerve_registry.api.schemas import ErrorBody, LoginRequest, LoginResponse, VersionResponse
from nerve_registry.api.state import services_of
from nerve_registry.domain.configs import format_timestamp
from nerve_registry.errors import AuthenticationError
from nerve_registry.store.database import transaction, utcnow
from nerve_registry.store.sessions import close_session, open_session
from nerve_registry.store.users import authenticate

router = APIRouter(tags=["session"])

_ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorBody, "description": "Invalid request body."},
    403: {"model": ErrorBody, "description": "Invalid account name or password."},
}


@router.post(
    "/auth/login",
    response_model=LoginResponse,
    responses=_ERRORS,
    summary="Log in and receive a session id in the 'sessionId' response header",
)
def login(body: LoginRequest, request: Request, response: Response) -> LoginResponse:
    services = services_of(request)
    client_address = request.client.host if request.client else None
    now = utcnow()

    with transaction(services.database) as session:
        user = authenticate(session, body.identity, body.secret)
        if user is None:
            raise AuthenticationError(
                "Invalid account name or password.", error_code="INVALID_CREDENTIALS"
            )
        session_id = open_session(
            session, user, now=now, policy=services.session_policy, client_address=client_address
        )
        result = LoginResponse(
            username=user.name,
            role=user.role,
            expiresAt=format_timestamp(now + timedelta(seconds=services.session_policy.lifetime))
            or "",
        )

    response.headers["sessionId"] = session_id
    return result


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
