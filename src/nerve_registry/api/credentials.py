"""Password checks for the API login and the token endpoint, with throttling and auditing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from nerve_registry.api.state import Services
from nerve_registry.domain.references import shown_value
from nerve_registry.errors import InvalidInputError, NerveRegistryError
from nerve_registry.security.throttle import Attempt
from nerve_registry.store.audit import AuditAction, record_event
from nerve_registry.store.database import transaction
from nerve_registry.store.users import ACCOUNT_NAME_RE, MAX_ACCOUNT_NAME_LENGTH, authenticate

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class VerifiedAccount:
    id: int
    name: str
    role: str


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def validate_identity(identity: str, field: str) -> str:
    """Return ``identity`` if it is a valid account name, else raise InvalidInputError.

    The error names ``field``. Checking the grammar first keeps path tricks,
    control characters and very long values out of the throttle and the logs.
    """
    if len(identity) > MAX_ACCOUNT_NAME_LENGTH or not ACCOUNT_NAME_RE.fullmatch(identity):
        raise InvalidInputError(
            f"Field '{field}' has the invalid account name {shown_value(identity)}: account "
            "names are lowercase letters and digits joined by '.', '_' or '-', at most "
            f"{MAX_ACCOUNT_NAME_LENGTH} characters."
        )
    return identity


async def verify_password(
    services: Services,
    identity: str,
    password: str,
    *,
    address: str | None,
    channel: str,
    rejection: Callable[[], NerveRegistryError],
) -> VerifiedAccount:
    """Check a password for ``identity`` and return the account, or raise.

    1. The throttle rejects the attempt with 429 while the name or the address
       is locked out.
    2. The password is checked in a worker thread, because Argon2 takes
       tens of milliseconds of CPU.
    3. A failure is audited, held back by the throttle's delay and rejected
       with ``rejection()``. ``channel`` names the endpoint in the audit log.
    """
    attempt = services.login_throttle.begin(identity, address)
    try:
        account = await run_in_threadpool(_authenticate, services, identity, password)
    except BaseException:
        services.login_throttle.abandoned(attempt)
        raise

    if account is not None:
        services.login_throttle.succeeded(attempt)
        return account

    await _reject(services, attempt, channel)
    raise rejection()


def _authenticate(services: Services, identity: str, password: str) -> VerifiedAccount | None:
    with transaction(services.database) as session:
        user = authenticate(session, identity, password)
        if user is None:
            return None
        return VerifiedAccount(id=user.id, name=user.name, role=user.role)


async def _reject(services: Services, attempt: Attempt, channel: str) -> None:
    outcome = services.login_throttle.failed(attempt)
    logger.info(
        "Failed login for %s from %s via %s", attempt.identity, attempt.address or "-", channel
    )
    for locked in outcome.locked:
        logger.warning("Locked out %s after repeated failed logins", locked)

    await run_in_threadpool(_audit_failure, services, attempt, channel, outcome.locked)
    if outcome.delay > 0:
        await asyncio.sleep(outcome.delay)


def _audit_failure(
    services: Services, attempt: Attempt, channel: str, locked: tuple[str, ...]
) -> None:
    with transaction(services.database) as session:
        record_event(
            session,
            AuditAction.LOGIN_FAILURE,
            actor=attempt.identity,
            target=attempt.identity,
            client_address=attempt.address,
            detail=f"via {channel}",
        )
        for entry in locked:
            record_event(
                session,
                AuditAction.LOGIN_LOCKOUT,
                actor=attempt.identity,
                target=entry,
                client_address=attempt.address,
                detail=f"lockout of {services.login_throttle.policy.lockout:g} s",
            )
