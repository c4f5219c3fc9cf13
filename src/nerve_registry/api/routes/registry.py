"""The four registry endpoints of the MS API: images, image tags, image status, tag deletion."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from nerve_registry.api.auth import Account, CurrentAccount
from nerve_registry.api.credentials import client_address
from nerve_registry.api.maintenance import ensure_writable
from nerve_registry.api.schemas import (
    CheckStatusRequest,
    CheckStatusResponse,
    DeleteTagRequest,
    DeleteTagResponse,
    ErrorBody,
    ImageEntry,
    ImagesRequest,
    ImagesResponse,
    ImageTagsRequest,
    ImageTagsResponse,
    StatusEntry,
    TagEntry,
)
from nerve_registry.api.state import Services, services_of
from nerve_registry.domain import deletion, images, status, tag_details
from nerve_registry.domain.configs import format_timestamp
from nerve_registry.domain.references import validate_repository, validate_tag
from nerve_registry.errors import ImageNotFoundError, PermissionDeniedError
from nerve_registry.store.audit import AuditAction, record_event
from nerve_registry.store.database import transaction

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/nerve/registry", tags=["registry"])

_COMMON_ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorBody, "description": "Invalid input; the message names the field."},
    403: {
        "model": ErrorBody,
        "description": "No valid session, or the account may not do this to the image.",
    },
    502: {
        "model": ErrorBody,
        "description": "The registry returned a response its protocol does not allow.",
    },
    503: {"model": ErrorBody, "description": "The registry is unreachable or unhealthy."},
}
_NOT_FOUND: dict[int | str, dict[str, object]] = {
    404: {
        "model": ErrorBody,
        "description": "Unknown image or tag, or an image the account may not see.",
    },
}


@router.post(
    "/images",
    response_model=ImagesResponse,
    response_model_by_alias=True,
    responses=_COMMON_ERRORS,
    summary="List the images the account may see, with their tag counts, page by page",
)
async def list_images(
    body: ImagesRequest, request: Request, account: CurrentAccount
) -> ImagesResponse:
    services = services_of(request)
    last = validate_repository(body.last, "last") if body.last else None

    page = await images.list_images(
        services.registry,
        last=last,
        limit=body.limit,
        concurrency=services.settings.registry_concurrency,
        selection=account.policy.catalog_selection(),
    )
    return ImagesResponse(
        images=[ImageEntry(name=image.name, tagCount=image.tag_count) for image in page.images],
        next=page.next,
    )


@router.post(
    "/image-tags",
    response_model=ImageTagsResponse,
    response_model_by_alias=True,
    responses={**_COMMON_ERRORS, **_NOT_FOUND},
    summary="List the tags of an image with digest, size, created time and platforms",
)
async def image_tags(
    body: ImageTagsRequest, request: Request, account: CurrentAccount
) -> ImageTagsResponse:
    services = services_of(request)
    repository = validate_repository(body.image, "image")
    _require_visible(account, repository)

    details = await tag_details.describe_tags(
        services.registry,
        repository,
        cache=services.config_cache,
        concurrency=services.settings.registry_concurrency,
    )
    return ImageTagsResponse(
        image=repository,
        tags=[
            TagEntry(
                tag=detail.tag,
                digest=detail.digest,
                mediaType=detail.media_type,
                size=detail.size,
                created=format_timestamp(detail.created),
                platforms=detail.platforms,
            )
            for detail in details
        ],
    )


@router.post(
    "/check-images-status",
    response_model=CheckStatusResponse,
    response_model_by_alias=True,
    responses=_COMMON_ERRORS,
    summary="Check that images and everything they reference are present",
)
async def check_images_status(
    body: CheckStatusRequest, request: Request, account: CurrentAccount
) -> CheckStatusResponse:
    services = services_of(request)

    results = await status.check_images(
        services.registry,
        list(body.images),
        concurrency=services.settings.registry_concurrency,
        can_see=account.policy.can_pull,
    )
    return CheckStatusResponse(
        images=[
            StatusEntry(
                image=str(result.image),
                status=result.status.value,
                digest=result.digest,
                message=result.message,
            )
            for result in results
        ]
    )


@router.post(
    "/delete-image-tag",
    response_model=DeleteTagResponse,
    response_model_by_alias=True,
    responses={**_COMMON_ERRORS, **_NOT_FOUND},
    summary="Delete one tag; other tags on the same manifest stay",
)
async def delete_image_tag(
    body: DeleteTagRequest, request: Request, account: CurrentAccount
) -> DeleteTagResponse:
    services = services_of(request)
    repository = validate_repository(body.image, "image")
    tag = validate_tag(body.tag, "tag")
    _require_visible(account, repository)
    if not account.policy.can_delete(repository):
        raise PermissionDeniedError(
            f"Account '{account.name}' may pull image '{repository}' but not delete its tags. "
            f"Accounts with the role 'user' delete only under '{account.name}/'."
        )
    ensure_writable(services)

    result = await deletion.delete_tag(
        services.registry,
        repository,
        tag,
        concurrency=services.settings.registry_concurrency,
    )
    logger.info("Account %s deleted tag %s:%s (%s)", account.name, repository, tag, result.digest)
    await run_in_threadpool(
        _audit_deletion, services, account, f"{repository}:{tag}", result.digest, request
    )
    return DeleteTagResponse(image=repository, tag=tag, digest=result.digest, deleted=True)


def _require_visible(account: Account, repository: str) -> None:
    """Raise ImageNotFoundError for an image the account may not pull, as for an unknown one."""
    if not account.policy.can_pull(repository):
        raise ImageNotFoundError(f"Image '{repository}' not found in the registry.")


def _audit_deletion(
    services: Services, account: Account, target: str, digest: str, request: Request
) -> None:
    with transaction(services.database) as session:
        record_event(
            session,
            AuditAction.TAG_DELETE,
            actor=account.name,
            target=target,
            digest=digest,
            client_address=client_address(request),
        )
