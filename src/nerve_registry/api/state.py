"""Objects the application creates in its lifespan and hands to every request."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request

from nerve_registry.config import Settings
from nerve_registry.distribution.client import RegistryClient
from nerve_registry.domain.configs import ConfigCache
from nerve_registry.security.keys import SigningKey
from nerve_registry.security.throttle import LoginThrottle, ThrottlePolicy
from nerve_registry.store.sessions import SessionPolicy

if TYPE_CHECKING:
    from nerve_registry.embedded.supervisor import RegistrySupervisor


@dataclass
class Maintenance:
    """Read-only maintenance of the registry, as during garbage collection.

    While ``active`` is set, nothing may write to the registry: pushes and
    deletions are refused with a retryable error that quotes ``reason``.
    """

    active: bool = False
    reason: str = ""
    since: datetime | None = None


@dataclass
class Services:
    """The database, the registry client and, for the embedded default, the registry supervisor."""

    settings: Settings
    engine: Engine
    database: sessionmaker[Session]
    registry: RegistryClient
    config_cache: ConfigCache
    session_policy: SessionPolicy
    supervisor: RegistrySupervisor | None
    maintenance: Maintenance = field(default_factory=Maintenance)
    # Signs the tokens of the token endpoint; None only where no endpoint issues tokens.
    signing_key: SigningKey | None = None
    login_throttle: LoginThrottle = field(default_factory=lambda: LoginThrottle(ThrottlePolicy()))


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services
