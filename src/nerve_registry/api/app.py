"""The FastAPI application: lifespan, middleware, error handlers and routes."""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from nerve_registry import __version__
from nerve_registry.api.cleanup import CleanupController
from nerve_registry.api.errors import install_error_handlers
from nerve_registry.api.maintenance import start_registry
from nerve_registry.api.middleware import AccessLog, BodySizeLimit
from nerve_registry.api.routes import admin, cleanup, registry, session, system, token
from nerve_registry.api.scheduler import Scheduler
from nerve_registry.api.state import Services
from nerve_registry.config import Settings
from nerve_registry.distribution.client import RegistryClient
from nerve_registry.domain.configs import ConfigCache
from nerve_registry.security.keys import SigningKey, load_or_create_signing_key
from nerve_registry.security.provider import ServiceTokenProvider
from nerve_registry.security.throttle import LoginThrottle, ThrottlePolicy
from nerve_registry.security.tokens import TOKEN_ISSUER, TOKEN_SERVICE, registry_auth_config
from nerve_registry.store.database import create_database_engine, create_schema, session_factory
from nerve_registry.store.sessions import SessionPolicy

logger = logging.getLogger(__name__)

DESCRIPTION = """\
Registry management of the Management System (MS): list the images in the
registry, show each image's tags, check that images are present and
complete, and delete tags.

Log in with `POST /auth/login`, then send the `sessionId` response header
as the `sessionid` request header. Errors are JSON objects with `errorCode`
and `message`.

Accounts with the role `user` see and change only their namespace
`ACCOUNT_NAME/...` and pull what an administrator shared with them; role
`admin` may do everything. Docker clients get registry tokens from
`/auth/token` with the same account.
"""


def create_app(settings: Settings) -> FastAPI:
    """Build the application; the lifespan opens the database and the registry connection."""
    app = FastAPI(
        title="MS registry service",
        version=__version__,
        description=DESCRIPTION,
        lifespan=_lifespan,
        redirect_slashes=False,
    )
    app.state.settings = settings

    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(AccessLog)

    app.include_router(session.router)
    app.include_router(token.router)
    app.include_router(registry.router)
    app.include_router(admin.router)
    app.include_router(system.router)
    app.include_router(cleanup.router)
    app.openapi = lambda: _openapi_document(app)  # type: ignore[method-assign]
    return app


def _openapi_document(app: FastAPI) -> dict[str, Any]:
    """Build the OpenAPI document once, without FastAPI's default 422 responses.

    Validation errors get 400 and the same error body as every other error,
    so the generated 422 entries would describe responses that never occur.
    """
    if app.openapi_schema is not None:
        return app.openapi_schema

    document = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)

    schemas = document.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)

    app.openapi_schema = document
    return document


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings

    engine = create_database_engine(settings.effective_database_url)
    create_schema(engine)
    signing_key = load_or_create_signing_key(settings.key_dir)

    supervisor = None
    verify: bool | ssl.SSLContext = True
    # NOTE: with --registry-url the service sends no tokens, so that registry must
    # accept the service's calls without token authentication.
    tokens = None
    if settings.embedded:
        from nerve_registry.embedded.registry_config import loopback_tls_context
        from nerve_registry.embedded.supervisor import RegistrySupervisor

        supervisor = RegistrySupervisor(settings, auth=_registry_auth(settings, signing_key))
        await start_registry(supervisor, session_factory(engine))
        verify = loopback_tls_context(settings) or True
        tokens = ServiceTokenProvider(
            signing_key,
            service=TOKEN_SERVICE,
            issuer=TOKEN_ISSUER,
            lifetime_seconds=settings.token_lifetime,
        )

    client = RegistryClient(
        settings.effective_registry_url,
        connect_timeout=settings.registry_connect_timeout,
        read_timeout=settings.registry_read_timeout,
        max_connections=max(settings.registry_concurrency * 2, 8),
        tokens=tokens,
        verify=verify,
    )
    app.state.services = Services(
        settings=settings,
        engine=engine,
        database=session_factory(engine),
        registry=client,
        config_cache=ConfigCache(),
        session_policy=SessionPolicy(
            idle_timeout=settings.session_idle_timeout, lifetime=settings.session_lifetime
        ),
        supervisor=supervisor,
        signing_key=signing_key,
        login_throttle=LoginThrottle(_throttle_policy(settings)),
    )
    controller = CleanupController(app.state.services)
    await controller.start()
    app.state.cleanup = controller
    scheduler = Scheduler(controller)
    scheduler.start()
    app.state.scheduler = scheduler
    logger.info("MS registry service %s started; registry at %s", __version__, client.base_url)

    try:
        yield
    finally:
        await scheduler.stop()
        await controller.stop()
        await client.aclose()
        if supervisor is not None:
            await supervisor.stop()
        engine.dispose()
        logger.info("MS registry service stopped")


def _registry_auth(settings: Settings, signing_key: SigningKey) -> dict[str, object]:
    """Return the registry's ``auth`` section: trust only tokens that this service signs."""
    return registry_auth_config(
        realm=settings.token_realm,
        service=TOKEN_SERVICE,
        issuer=TOKEN_ISSUER,
        rootcertbundle=signing_key.cert_path,
    )


def _throttle_policy(settings: Settings) -> ThrottlePolicy:
    return ThrottlePolicy(
        max_failures=settings.login_max_failures,
        max_failures_per_address=settings.login_max_failures_per_address,
        window=settings.login_failure_window,
        lockout=settings.login_lockout,
        failure_delay=settings.login_failure_delay,
    )
