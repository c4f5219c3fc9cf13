"""Request and response bodies of the API, as they appear in its OpenAPI document."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

MAX_LIMIT = 2**31 - 1
MAX_STATUS_IMAGES = 1000


class ApiModel(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class RequestModel(ApiModel):
    """A request body: unknown fields are rejected, so that a misspelled field is noticed."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")


class ErrorBody(ApiModel):
    error_code: str = Field(alias="errorCode", examples=["INVALID_REFERENCE"])
    message: str = Field(examples=["Field 'image' has the invalid repository name 'Team/App'."])


class LoginRequest(RequestModel):
    identity: Annotated[StrictStr, Field(min_length=1, max_length=256)]
    secret: Annotated[StrictStr, Field(min_length=1, max_length=1024)]


class LoginResponse(ApiModel):
    username: str
    role: str
    expires_at: str = Field(
        alias="expiresAt", description="RFC 3339 end of the session's lifetime."
    )


class TokenResponse(ApiModel):
    """A registry token in the form Docker clients (``token``) and OAuth 2 clients read."""

    token: str
    access_token: str
    expires_in: int = Field(description="Seconds until the token expires.")
    issued_at: str = Field(description="RFC 3339 issue time.")
    scope: str = Field(
        description="The granted scopes separated by spaces; a requested scope the account "
        "may not use is missing here and in the token."
    )


class VersionResponse(ApiModel):
    current_version: str = Field(alias="currentVersion")


class HealthResponse(ApiModel):
    status: str = Field(description="'ok' when the registry responds, else 'degraded'.")
    registry: str = Field(description="'up' or 'down'.")


class ImagesRequest(RequestModel):
    last: StrictStr | None = Field(
        default=None,
        max_length=4096,
        description="Return only images after this name in catalog order; send the previous "
        "page's 'next'.",
    )
    limit: Annotated[StrictInt, Field(ge=1, le=MAX_LIMIT)] | None = Field(
        default=None, description="Maximum number of images; omit for every image."
    )


class ImageEntry(ApiModel):
    name: str
    tag_count: int = Field(alias="tagCount")


class ImagesResponse(ApiModel):
    images: list[ImageEntry]
    next: str | None = Field(
        description="Value for 'last' to get the next page; null on the last page."
    )


class ImageTagsRequest(RequestModel):
    image: StrictStr = Field(max_length=4096)


class TagEntry(ApiModel):
    tag: str
    digest: str
    media_type: str = Field(alias="mediaType")
    size: int = Field(
        description="Bytes of manifest, config and layers (an index adds its children)."
    )
    created: str | None = Field(description="RFC 3339 creation time from the image config.")
    platforms: list[str] = Field(examples=[["linux/amd64", "linux/arm64/v8"]])


class ImageTagsResponse(ApiModel):
    image: str
    tags: list[TagEntry]


class CheckStatusRequest(RequestModel):
    images: Annotated[list[StrictStr], Field(max_length=MAX_STATUS_IMAGES)] = Field(
        description="References: 'name', 'name:tag' or 'name@sha256:...'; a bare name means "
        "'name:latest'."
    )


class StatusEntry(ApiModel):
    image: str = Field(description="The reference as sent.")
    status: str = Field(examples=["available", "missing", "incomplete", "invalid"])
    digest: str | None
    message: str


class CheckStatusResponse(ApiModel):
    images: list[StatusEntry]


class DeleteTagRequest(RequestModel):
    image: StrictStr = Field(max_length=4096)
    tag: StrictStr = Field(max_length=4096)


class DeleteTagResponse(ApiModel):
    image: str
    tag: str
    digest: str
    deleted: bool


class ShareRequest(ApiModel):
    account: Annotated[StrictStr, Field(min_length=1, max_length=256)]
    pattern: Annotated[StrictStr, Field(min_length=1, max_length=512)] = Field(
        description="'team/app', 'team/*' (everything under team/) or '*' (every repository)."
    )


class ShareEntry(ApiModel):
    id: int
    account: str
    pattern: str
    created_at: str = Field(alias="createdAt", description="RFC 3339 creation time.")
    created_by: str = Field(alias="createdBy")


class SharesResponse(ApiModel):
    shares: list[ShareEntry]


class AuditEventEntry(ApiModel):
    id: int
    time: str = Field(description="RFC 3339 time of the event, UTC.")
    actor: str = Field(description="Account name, or 'local:OS_USER' for host commands.")
    action: str = Field(examples=["tag.delete", "login.failure", "token.grant"])
    target: str
    digest: str | None
    client_address: str | None = Field(alias="clientAddress")
    detail: str


class AuditResponse(ApiModel):
    events: list[AuditEventEntry] = Field(description="Newest first.")
    next: int | None = Field(
        description="Value for 'before' to get the next, older page; null on the last page."
    )
