"""Fixtures: a signing key, a tiny token server and a real registry that trusts the key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nerve_registry.security import SigningKey, load_or_create_signing_key, registry_auth_config

from .registry_process import RegistryProcess, start_registry
from .token_server import TokenServer

SERVICE = "nerve-registry-test"
ISSUER = "nerve-registry-test-issuer"
USERNAME = "user"
PASSWORD = "correct-horse-battery"  # noqa: S105 - the fixed test account


@pytest.fixture(scope="session")
def signing_key(tmp_path_factory: pytest.TempPathFactory) -> SigningKey:
    return load_or_create_signing_key(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="session")
def token_server(signing_key: SigningKey) -> Iterator[TokenServer]:
    server = TokenServer(
        signing_key, service=SERVICE, issuer=ISSUER, username=USERNAME, password=PASSWORD
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def token_registry(
    tmp_path_factory: pytest.TempPathFactory, signing_key: SigningKey, token_server: TokenServer
) -> Iterator[RegistryProcess]:
    """A registry that accepts only tokens signed by ``signing_key``, from ``token_server``."""
    directory: Path = tmp_path_factory.mktemp("token-registry")
    auth = registry_auth_config(
        realm=token_server.realm,
        service=SERVICE,
        issuer=ISSUER,
        rootcertbundle=signing_key.cert_path,
    )
    process = start_registry(directory, auth)
    yield process
    process.stop()
