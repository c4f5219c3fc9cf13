"""Errors of the embedded registry process."""

from __future__ import annotations

from nerve_registry.errors import RegistryUnavailableError


class EmbeddedRegistryError(RegistryUnavailableError):
    """The embedded ``docker-registry`` process could not be started or did not become healthy."""

    error_code = "EMBEDDED_REGISTRY_FAILED"
