"""ServiceTokenProvider: one cached token per scope, renewed before it expires."""

import asyncio

import jwt

from nerve_registry.security import SigningKey
from nerve_registry.security.provider import MAX_CACHED_SCOPES, ServiceTokenProvider


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _provider(signing_key: SigningKey, clock: FakeClock) -> ServiceTokenProvider:
    return ServiceTokenProvider(
        signing_key, service="svc", issuer="iss", lifetime_seconds=300, clock=clock
    )


def _access(token: str) -> object:
    return jwt.decode(token, options={"verify_signature": False})["access"]


def test_token_cached_per_scope(signing_key: SigningKey) -> None:
    provider = _provider(signing_key, FakeClock())

    first = asyncio.run(provider.token_for("repository:a/b:pull"))
    again = asyncio.run(provider.token_for("repository:a/b:pull"))
    other = asyncio.run(provider.token_for("repository:c/d:pull"))

    assert again == first
    assert other != first
    assert _access(other) == [{"type": "repository", "name": "c/d", "actions": ["pull"]}]


def test_token_renewed_before_expiry(signing_key: SigningKey) -> None:
    clock = FakeClock()
    provider = _provider(signing_key, clock)
    first = asyncio.run(provider.token_for("repository:a/b:pull"))

    clock.now = 239.0
    cached = asyncio.run(provider.token_for("repository:a/b:pull"))
    clock.now = 240.0
    renewed = asyncio.run(provider.token_for("repository:a/b:pull"))

    assert cached == first
    assert renewed != first


def test_discard_forces_new_token(signing_key: SigningKey) -> None:
    provider = _provider(signing_key, FakeClock())
    first = asyncio.run(provider.token_for("registry:catalog:*"))

    provider.discard("registry:catalog:*")
    second = asyncio.run(provider.token_for("registry:catalog:*"))

    assert second != first


def test_empty_scope_grants_nothing(signing_key: SigningKey) -> None:
    provider = _provider(signing_key, FakeClock())

    token = asyncio.run(provider.token_for(""))

    assert _access(token) == []


def test_cache_bounded(signing_key: SigningKey) -> None:
    provider = _provider(signing_key, FakeClock())

    async def fill() -> None:
        for number in range(MAX_CACHED_SCOPES + 10):
            await provider.token_for(f"repository:r/{number}:pull")

    asyncio.run(fill())

    assert provider.cached_scopes == MAX_CACHED_SCOPES
