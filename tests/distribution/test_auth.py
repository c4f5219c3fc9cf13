"""Scopes per registry request, and Bearer challenge parsing."""

import pytest

from nerve_registry.distribution.auth import (
    BearerChallenge,
    parse_bearer_challenge,
    scope_for_request,
)


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("GET", "/v2/", ""),
        ("GET", "/v2/_catalog", "registry:catalog:*"),
        ("GET", "/v2/team/app/tags/list", "repository:team/app:pull"),
        ("HEAD", "/v2/team/app/manifests/v1", "repository:team/app:pull"),
        ("GET", "/v2/a/manifests/b/manifests/v1", "repository:a/manifests/b:pull"),
        ("HEAD", "/v2/t/a/blobs/sha256:00", "repository:t/a:pull"),
        ("POST", "/v2/t/a/blobs/uploads/", "repository:t/a:pull,push"),
        ("PUT", "/v2/t/a/blobs/uploads/abc?_state=x&digest=y", "repository:t/a:pull,push"),
        ("PUT", "/v2/t/a/manifests/v1", "repository:t/a:pull,push"),
        ("DELETE", "/v2/t/a/manifests/sha256:00", "repository:t/a:delete"),
        ("OPTIONS", "/v2/t/a/manifests/v1", ""),
        ("GET", "/other", ""),
    ],
)
def test_scope_for_request(method: str, path: str, scope: str) -> None:
    assert scope_for_request(method, path) == scope


def test_challenge_parsed() -> None:
    header = (
        'Bearer realm="http://127.0.0.1:8080/auth/token",service="nerve-registry",'
        'scope="repository:team/app:pull,push"'
    )

    assert parse_bearer_challenge(header) == BearerChallenge(
        realm="http://127.0.0.1:8080/auth/token",
        service="nerve-registry",
        scope="repository:team/app:pull,push",
    )


def test_challenge_escaped_quote() -> None:
    challenge = parse_bearer_challenge(r'Bearer realm="http://x/t",error="a \"b\""')

    assert challenge is not None
    assert challenge.scope == ""


@pytest.mark.parametrize("header", ["", 'Basic realm="x"', 'Bearer service="x"'])
def test_challenge_rejected(header: str) -> None:
    assert parse_bearer_challenge(header) is None
