"""RegistryClient with the in-process token provider, against a registry with token auth."""

from __future__ import annotations

import asyncio
import datetime
import os
import subprocess
from pathlib import Path

import pytest

from nerve_registry.distribution import catalog, tags
from nerve_registry.distribution.client import RegistryClient
from nerve_registry.security import SigningKey, issue_registry_token, parse_scopes
from nerve_registry.security.provider import ServiceTokenProvider
from tests.support.oci import write_image

from .conftest import ISSUER, PASSWORD, SERVICE, USERNAME
from .registry_process import RegistryProcess


class RecordingProvider:
    """Wraps ServiceTokenProvider, records the scopes asked for and can hand out stale tokens."""

    def __init__(self, signing_key: SigningKey, *, stale_first: bool = False) -> None:
        self.inner = ServiceTokenProvider(
            signing_key, service=SERVICE, issuer=ISSUER, lifetime_seconds=300
        )
        self.signing_key = signing_key
        self.stale_first = stale_first
        self.scopes: list[str] = []
        self.discarded: list[str] = []

    async def token_for(self, scope: str) -> str:
        self.scopes.append(scope)
        if self.stale_first:
            self.stale_first = False
            return _expired_token(self.signing_key, scope)
        return await self.inner.token_for(scope)

    def discard(self, scope: str) -> None:
        self.discarded.append(scope)
        self.inner.discard(scope)


def _expired_token(signing_key: SigningKey, scope: str) -> str:
    """A token that expired ten minutes ago, well past the registry's 60 s leeway."""
    issued = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=11)
    return issue_registry_token(
        signing_key,
        subject="stale",
        audience=SERVICE,
        issuer=ISSUER,
        access=parse_scopes(scope.split()),
        lifetime_seconds=60,
        now=issued,
    ).token


@pytest.fixture(scope="module")
def pushed(token_registry: RegistryProcess, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Two repositories with one tag each, pushed by skopeo through the token server."""
    layout = tmp_path_factory.mktemp("client-layout") / "layout"
    home = tmp_path_factory.mktemp("client-home")
    write_image(layout, "v1", seed="client tokens")
    names = [f"{USERNAME}/client-one", f"{USERNAME}/client-two"]
    for name in names:
        subprocess.run(
            [
                "skopeo",
                "copy",
                "--dest-tls-verify=false",
                f"--dest-creds={USERNAME}:{PASSWORD}",
                f"oci:{layout}:v1",
                f"docker://127.0.0.1:{token_registry.port}/{name}:v1",
            ],
            check=True,
            capture_output=True,
            timeout=120,
            env=dict(os.environ, HOME=str(home)),
        )
    return names


def _run_with(registry: RegistryProcess, provider: RecordingProvider, work: object) -> object:
    async def run() -> object:
        client = RegistryClient(registry.url, tokens=provider)
        try:
            return await work(client)  # type: ignore[operator]
        finally:
            await client.aclose()

    return asyncio.run(run())


def test_client_tokens_per_scope(
    token_registry: RegistryProcess, signing_key: SigningKey, pushed: list[str]
) -> None:
    provider = RecordingProvider(signing_key)

    async def work(client: RegistryClient) -> list[list[str] | None]:
        return [await tags.list_tags(client, name) for name in pushed]

    found = _run_with(token_registry, provider, work)

    assert found == [["v1"], ["v1"]]
    assert provider.scopes == [f"repository:{name}:pull" for name in pushed]
    assert provider.discarded == []


def test_client_catalog_scope(
    token_registry: RegistryProcess, signing_key: SigningKey, pushed: list[str]
) -> None:
    provider = RecordingProvider(signing_key)

    async def work(client: RegistryClient) -> catalog.CatalogPage:
        return await catalog.list_catalog_page(client, n=100, last=None)

    page = _run_with(token_registry, provider, work)

    assert isinstance(page, catalog.CatalogPage)
    assert set(pushed) <= set(page.repositories)
    assert provider.scopes == ["registry:catalog:*"]


def test_client_replaces_rejected_token(
    token_registry: RegistryProcess, signing_key: SigningKey, pushed: list[str]
) -> None:
    provider = RecordingProvider(signing_key, stale_first=True)

    async def work(client: RegistryClient) -> list[str] | None:
        return await tags.list_tags(client, pushed[0])

    found = _run_with(token_registry, provider, work)

    assert found == ["v1"]
    assert provider.discarded == [f"repository:{pushed[0]}:pull"]


def test_client_without_tokens_rejected(token_registry: RegistryProcess, tmp_path: Path) -> None:
    async def run() -> int:
        client = RegistryClient(token_registry.url)
        try:
            response = await client.request("GET", "/v2/_catalog")
            return response.status_code
        finally:
            await client.aclose()

    assert asyncio.run(run()) == 401
