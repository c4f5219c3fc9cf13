"""Request and response bodies of the cleanup endpoints, as they appear in the OpenAPI document."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from nerve_registry.domain.retention import MAX_KEEP_LAST, MAX_PATTERNS, MAX_PROTECTED_TAGS

Duration = Annotated[StrictStr, Field(max_length=64, examples=["30d"])]


class StrictModel(BaseModel):
    """A request body that rejects unknown fields, so a misspelt rule is not silently ignored."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")


class ResponseModel(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class PolicyBody(StrictModel):
    repositories: Annotated[list[StrictStr], Field(max_length=MAX_PATTERNS)] = Field(
        description="Repository globs: '*' within one path component, '**' across '/', "
        "'?' one character.",
        examples=[["ci/**"]],
    )
    priority: Annotated[StrictInt, Field(ge=-1_000_000, le=1_000_000)] = Field(
        default=100, description="Lower values are checked first; the first match governs."
    )
    keep_last: Annotated[StrictInt, Field(ge=0, le=MAX_KEEP_LAST)] | None = Field(
        default=None, alias="keepLast", description="Keep this many newest candidate tags."
    )
    older_than: Duration | None = Field(
        default=None, alias="olderThan", description="Delete candidate tags older than this."
    )
    include: Annotated[StrictStr, Field(max_length=1000)] | None = Field(
        default=None,
        description="Only tags that this RE2 regular expression matches in full are candidates.",
    )
    exclude: Annotated[StrictStr, Field(max_length=1000)] | None = Field(
        default=None,
        description="Tags that this RE2 regular expression matches in full are never candidates.",
    )
    protect: Annotated[list[StrictStr], Field(max_length=MAX_PROTECTED_TAGS)] = Field(
        default_factory=list, description="Tag names that are never deleted."
    )
    untagged_older_than: Duration | None = Field(
        default=None,
        alias="untaggedOlderThan",
        description="Delete untagged manifests pushed longer ago than this (embedded registry).",
    )
    time_source: Literal["created", "pushed"] = Field(
        default="created",
        alias="timeSource",
        description="Order tags by the image's created time or by the push time; each falls "
        "back to the other.",
    )
    enabled: StrictBool = True


class PolicyResponse(ResponseModel):
    name: str
    repositories: list[str]
    priority: int
    keep_last: int | None = Field(alias="keepLast")
    older_than: str | None = Field(alias="olderThan")
    include: str | None
    exclude: str | None
    protect: list[str]
    untagged_older_than: str | None = Field(alias="untaggedOlderThan")
    time_source: str = Field(alias="timeSource")
    enabled: bool
    created_at: str | None = Field(alias="createdAt")
    updated_at: str | None = Field(alias="updatedAt")


class PolicyList(ResponseModel):
    policies: list[PolicyResponse]


class PlanRequest(StrictModel):
    policies: Annotated[list[StrictStr], Field(max_length=1000)] | None = Field(
        default=None,
        description="Names of the policies to apply, also disabled ones; omit for every "
        "enabled policy, [] for none.",
    )
    untagged_older_than: Duration | None = Field(
        default=None,
        alias="untaggedOlderThan",
        description="Also delete untagged manifests pushed longer ago than this, in every "
        "repository ('0s' for all), and remove repositories left empty.",
    )


class PlanEntryModel(ResponseModel):
    kind: Literal["tag", "manifest", "repository"]
    repository: str
    tag: str | None
    digest: str | None
    reason: str
    policy: str | None
    time: str | None
    time_source: str | None = Field(alias="timeSource")
    freed_bytes: int = Field(
        alias="freedBytes",
        description="Bytes that garbage collection frees once this entry is applied.",
    )


class KeptTagModel(ResponseModel):
    repository: str
    tag: str
    digest: str
    reason: str
    policy: str


class PlanRequestEcho(ResponseModel):
    policies: list[str] | None
    untagged_older_than: str | None = Field(alias="untaggedOlderThan")


class PlanResponse(ResponseModel):
    id: str
    created_at: str | None = Field(alias="createdAt")
    expires_at: str | None = Field(alias="expiresAt")
    created_by: str = Field(alias="createdBy")
    run_id: int | None = Field(alias="runId")
    request: PlanRequestEcho
    registry: Literal["embedded", "external"]
    policies: list[str]
    entries: list[PlanEntryModel]
    kept: list[KeptTagModel]
    freed_bytes: int = Field(alias="freedBytes")
    warnings: list[str]


class EmptyRequest(StrictModel):
    """A request body without fields. It may be omitted; a body with any field is rejected."""


class ApplyRequest(StrictModel):
    plan_id: Annotated[StrictStr, Field(max_length=64)] = Field(alias="planId")
    gc: StrictBool = Field(
        default=False, description="Run garbage collection after the entries (embedded only)."
    )


class EntryOutcomeModel(ResponseModel):
    kind: str
    repository: str
    tag: str | None
    digest: str | None
    message: str | None = None
    freed_bytes: int | None = Field(default=None, alias="freedBytes")


class ProgressModel(ResponseModel):
    done: int
    total: int


class CollectionModel(ResponseModel):
    storage_bytes_before: int = Field(alias="storageBytesBefore")
    storage_bytes_after: int = Field(alias="storageBytesAfter")
    freed_bytes: int = Field(alias="freedBytes")
    blobs_marked: int | None = Field(alias="blobsMarked")
    blobs_deleted: int | None = Field(alias="blobsDeleted")
    summary: str = Field(description="The collector's summary line.")


class RunResponse(ResponseModel):
    id: int
    kind: str = Field(examples=["prune", "gc", "prune-gc"])
    triggered_by: str = Field(alias="triggeredBy")
    status: str = Field(examples=["running", "succeeded", "partial", "failed", "interrupted"])
    started_at: str | None = Field(alias="startedAt")
    finished_at: str | None = Field(alias="finishedAt")
    plan_id: str | None = Field(alias="planId")
    progress: ProgressModel
    estimated_freed_bytes: int | None = Field(alias="estimatedFreedBytes")
    freed_bytes: int | None = Field(
        alias="freedBytes", description="Storage bytes garbage collection freed, measured."
    )
    deleted: list[EntryOutcomeModel]
    skipped: list[EntryOutcomeModel]
    failed: list[EntryOutcomeModel]
    not_attempted: list[EntryOutcomeModel] = Field(alias="notAttempted")
    collection: CollectionModel | None
    message: str


class RunList(ResponseModel):
    runs: list[RunResponse]


class MaintenanceRequest(StrictModel):
    active: StrictBool
    reason: Annotated[StrictStr, Field(max_length=200)] = ""


class MaintenanceResponse(ResponseModel):
    active: bool
    reason: str
    since: str | None
    operator_hold: bool = Field(alias="operatorHold")
    registry_read_only: bool = Field(
        alias="registryReadOnly",
        description="False for an external registry, which this service cannot switch.",
    )


class ScheduleBody(StrictModel):
    cron: Annotated[StrictStr, Field(max_length=256)] = Field(
        description="Five fields, or six with trailing seconds. It must match at least one date.",
        examples=["0 3 * * *"],
    )
    timezone: Annotated[StrictStr, Field(max_length=64)] = "UTC"
    action: Literal["prune", "gc", "prune-gc"]
    policies: Annotated[list[StrictStr], Field(max_length=1000)] | None = Field(
        default=None,
        description="Names of existing policies to apply, also disabled ones; omit for every "
        "enabled policy.",
    )
    untagged_older_than: Duration | None = Field(
        default=None,
        alias="untaggedOlderThan",
        description="Also delete untagged manifests pushed longer ago than this, as in a prune "
        "plan request.",
    )
    enabled: StrictBool = True


class ScheduleLastRun(ResponseModel):
    id: int
    status: str
    started_at: str | None = Field(alias="startedAt")


class ScheduleResponse(ResponseModel):
    name: str
    cron: str
    timezone: str
    action: str
    policies: list[str] | None
    untagged_older_than: str | None = Field(alias="untaggedOlderThan")
    enabled: bool
    created_at: str | None = Field(alias="createdAt")
    updated_at: str | None = Field(alias="updatedAt")
    last_fired_at: str | None = Field(
        alias="lastFiredAt", description="Scheduled time of the last run the scheduler started."
    )
    last_run: ScheduleLastRun | None = Field(
        alias="lastRun",
        description="The newest run of this schedule, started by the scheduler or by a request.",
    )
    next_run_at: str | None = Field(alias="nextRunAt")
    error: str | None = Field(
        description="Why the schedule cannot run, such as a cron expression that matches no "
        "date or a time zone the system no longer knows; null when it can run."
    )


class ScheduleList(ResponseModel):
    schedules: list[ScheduleResponse]


class UntaggedManifestModel(ResponseModel):
    repository: str
    digest: str
    media_type: str = Field(alias="mediaType")
    size: int = Field(description="Bytes of the manifest, its config and layers.")
    created: str | None
    pushed: str | None


class EmptyRepositoryModel(ResponseModel):
    name: str
    untagged_manifests: int = Field(alias="untaggedManifests")


class UntaggedReport(ResponseModel):
    manifests: list[UntaggedManifestModel]
    repositories: list[EmptyRepositoryModel] = Field(
        description="Repositories without tags, which still appear in the registry catalog."
    )
    manifests_listed: bool = Field(
        alias="manifestsListed",
        description="False for an external registry, whose untagged manifests are unknown.",
    )
