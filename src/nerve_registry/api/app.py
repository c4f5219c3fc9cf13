"""The FastAPI application: lifespan, middleware, error handlers and routes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from nerve_registry import __version__
from nerve_registry.api.cleanup import CleanupController
from nerve_registry.api.errors import install_error_handlers
from nerve_registry.api.middleware import AccessLog, BodySizeLimit
from nerve_registry.api.routes import cleanup, registry, session, system
from nerve_registry.api.scheduler import Scheduler
from nerve_registry.api.state import Services
from nerve_registry.config import Settings
from nerve_registry.distribution.client import RegistryClient
from nerve_registry.domain.configs import ConfigCache
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
    app.include_router(registry.router)
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

    supervisor = None
    if settings.embedded:
        from nerve_registry.embedded.supervisor import RegistrySupervisor

        supervisor = RegistrySupervisor(settings)
        await supervisor.start()

    client = RegistryClient(
        settings.effective_registry_url,
        connect_timeout=settings.registry_connect_timeout,
        read_timeout=settings.registry_read_timeout,
        max_connections=max(settings.registry_concurrency * 2, 8),
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
