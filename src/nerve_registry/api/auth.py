"""Session authentication of API requests: the ``sessionid`` header a login returned."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request

from nerve_registry.api.state import services_of
from nerve_registry.errors import AuthenticationError, PermissionDeniedError
from nerve_registry.security.policy import AccessPolicy
from nerve_registry.store.database import transaction, utcnow
from nerve_registry.store.sessions import resolve_session
from nerve_registry.store.shares import patterns_for

SESSION_HEADER = "sessionid"


@dataclass(frozen=True)
class Account:
    """The account behind a request and the patterns shared with it, detached from the database."""

    id: int
    name: str
    role: str
    shared_patterns: tuple[str, ...] = ()

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def policy(self) -> AccessPolicy:
        return AccessPolicy.of(self.name, self.role, self.shared_patterns)


def current_account(
    request: Request,
    sessionid: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Account:
    """Return the account of the request's session; raise AuthenticationError (403) without one.

    This is a plain function, so FastAPI runs its database work in a thread.
    """
    if not sessionid or len(sessionid) > 256:
        raise AuthenticationError(
            "No valid session: log in with POST /auth/login and send the sessionId it returns "
            "in the 'sessionid' header."
        )

    services = services_of(request)
    with transaction(services.database) as session:
        user = resolve_session(session, sessionid, now=utcnow(), policy=services.session_policy)
        if user is None:
            raise AuthenticationError(
                "The session is unknown or has expired: log in again with POST /auth/login."
            )
        shared = () if user.is_admin else tuple(patterns_for(session, user.id))
        return Account(id=user.id, name=user.name, role=user.role, shared_patterns=shared)


def admin_account(account: Annotated[Account, Depends(current_account)]) -> Account:
    if not account.is_admin:
        raise PermissionDeniedError(f"Account '{account.name}' is not an administrator.")
    return account


CurrentAccount = Annotated[Account, Depends(current_account)]
AdminAccount = Annotated[Account, Depends(admin_account)]
