"""Errors raised by the service, its registry protocol client and its state store.

Every error carries an ``error_code`` (UPPER_SNAKE_CASE) and an HTTP status, and
the API layer turns it into ``{"errorCode", "message"}``. Nothing else formats
error responses.

    NerveRegistryError
    ├── InvalidInputError              400  the caller sent something malformed
    │   ├── InvalidReferenceError           a repository name, tag or digest breaks its grammar
    │   └── RequestTooLargeError       413  the request body is over the size limit
    ├── AuthenticationError            403  no session, an expired session or bad credentials
    │   └── CredentialsRequiredError   401  the token endpoint got no or bad Basic credentials
    ├── PermissionDeniedError          403  authenticated, but the account may not do this
    ├── NotFoundError                  404
    │   ├── ImageNotFoundError              no such repository, or it has no tags
    │   ├── TagNotFoundError                the repository exists, the tag does not
    │   └── AccountNotFoundError            no account of that name
    ├── ConflictError                  409  the state changed or already exists
    │   └── UnsupportedOperationError       not possible with this service's configuration
    ├── TooManyRequestsError           429  login attempts are throttled
    ├── RegistryError                  502  the registry responded outside its protocol
    └── RegistryUnavailableError       503  the registry cannot be reached or is not healthy
        └── MaintenanceError                the registry is in read-only maintenance; retry later

Errors with a ``retry_after`` (seconds) get a ``Retry-After`` response header.
"""

from __future__ import annotations


class NerveRegistryError(Exception):
    """Base class: an error with a stable code, an HTTP status and a message for a person."""

    error_code = "INTERNAL_ERROR"
    status_code = 500
    retry_after: int | None = None

    def __init__(self, message: str, *, error_code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if error_code is not None:
            self.error_code = error_code


class InvalidInputError(NerveRegistryError):
    error_code = "INVALID_INPUT"
    status_code = 400


class InvalidReferenceError(InvalidInputError):
    error_code = "INVALID_REFERENCE"


class RequestTooLargeError(InvalidInputError):
    error_code = "REQUEST_TOO_LARGE"
    status_code = 413


class AuthenticationError(NerveRegistryError):
    error_code = "NOT_AUTHENTICATED"
    status_code = 403


class CredentialsRequiredError(AuthenticationError):
    """The token endpoint needs valid Basic credentials; Docker clients expect 401 for that."""

    error_code = "INVALID_CREDENTIALS"
    status_code = 401


class PermissionDeniedError(NerveRegistryError):
    error_code = "PERMISSION_DENIED"
    status_code = 403


class NotFoundError(NerveRegistryError):
    error_code = "NOT_FOUND"
    status_code = 404


class ImageNotFoundError(NotFoundError):
    error_code = "IMAGE_NOT_FOUND"


class TagNotFoundError(NotFoundError):
    error_code = "TAG_NOT_FOUND"


class AccountNotFoundError(NotFoundError):
    error_code = "ACCOUNT_NOT_FOUND"


class ConflictError(NerveRegistryError):
    error_code = "CONFLICT"
    status_code = 409


class UnsupportedOperationError(ConflictError):
    """The operation needs something this configuration lacks, such as the embedded registry."""

    error_code = "NOT_SUPPORTED"


class TooManyRequestsError(NerveRegistryError):
    error_code = "TOO_MANY_REQUESTS"
    status_code = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RegistryError(NerveRegistryError):
    """The registry returned a status or body that the protocol does not allow here."""

    error_code = "REGISTRY_ERROR"
    status_code = 502

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        registry_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.registry_code = registry_code


class RegistryUnavailableError(NerveRegistryError):
    error_code = "REGISTRY_UNAVAILABLE"
    status_code = 503


class MaintenanceError(RegistryUnavailableError):
    """The registry is in read-only maintenance. ``retry_after`` is a suggested wait in seconds."""

    error_code = "REGISTRY_MAINTENANCE"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
