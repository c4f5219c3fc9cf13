"""Health of the service and its registry, for operators and supervisors."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from nerve_registry.api.schemas import HealthResponse
from nerve_registry.api.state import services_of
from nerve_registry.errors import NerveRegistryError

router = APIRouter(tags=["system"])


@router.api_route(
    "/health",
    methods=["GET", "HEAD"],
    response_model=HealthResponse,
    responses={503: {"model": HealthResponse, "description": "The registry does not respond."}},
    summary="Report whether the service and its registry are up",
)
async def health(request: Request) -> JSONResponse:
    services = services_of(request)
    try:
        response = await services.registry.request("GET", "/v2/")
        registry_up = response.status_code in (200, 401)
    except NerveRegistryError:
        registry_up = False

    body = HealthResponse(
        status="ok" if registry_up else "degraded", registry="up" if registry_up else "down"
    )
    return JSONResponse(status_code=200 if registry_up else 503, content=body.model_dump())
