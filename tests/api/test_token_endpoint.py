"""GET and POST /auth/token: credentials, granted scopes, claims and input checks."""

from __future__ import annotations

import base64
import datetime
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
import requests
from cryptography import x509

from nerve_registry.security import issue_registry_token, load_or_create_signing_key, parse_scopes
from tests.support import oci
from tests.support.service import RunningService, running_service

ALICE_PASSWORD = "alice-password"  # noqa: S105 - a test account
WRONG_PASSWORD = "not-alices-password"  # noqa: S105 - a deliberately wrong password
TOKEN_LIFETIME = 120
MANIFEST_ACCEPT = "application/vnd.oci.image.manifest.v1+json"


@pytest.fixture(scope="module")
def token_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    """A service with user alice, who may pull tools/lint, and one image in each place.

    Failed logins are not delayed here, so the tests with wrong passwords stay fast.
    """
    root = tmp_path_factory.mktemp("token-endpoint")
    with running_service(
        root / "service",
        extra_args=[
            "--token-lifetime",
            str(TOKEN_LIFETIME),
            "--login-failure-delay",
            "0",
            "--login-max-failures",
            "1000",
            "--login-max-failures-per-address",
            "1000",
        ],
    ) as service:
        service.add_account("alice", ALICE_PASSWORD)
        layout = root / "layout"
        oci.write_image(layout, "v1", seed="token endpoint")
        for reference in ["alice/app:v1", "bob/app:v1", "tools/lint:v1"]:
            service.push(layout, "v1", reference)
        response = service.api().post_json(
            "/nerve/registry/shares", {"account": "alice", "pattern": "tools/lint"}
        )
        assert response.status_code == 201
        yield service


def _alice_token(service: RunningService, *scopes: str) -> requests.Response:
    return service.token(list(scopes), user="alice", password=ALICE_PASSWORD)


def _claims(service: RunningService, token: str) -> dict[str, object]:
    """Verify the token with the certificate the registry trusts and return its claims."""
    pem = (service.data_dir / "keys" / "token-signing-cert.pem").read_bytes()
    public_key = x509.load_pem_x509_certificate(pem).public_key()
    claims: dict[str, object] = jwt.decode(
        token,
        public_key,  # type: ignore[arg-type]
        algorithms=["ES256"],
        audience="nerve-registry",
        issuer="nerve-registry-ms",
    )
    return claims


def test_token_without_credentials(token_service: RunningService) -> None:
    response = requests.get(
        f"{token_service.url}/auth/token",
        params={"service": "nerve-registry", "scope": "repository:alice/app:pull"},
        timeout=10,
    )

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic ")
    assert response.json()["errors"][0]["code"] == "UNAUTHORIZED"


def test_token_wrong_password(token_service: RunningService) -> None:
    response = token_service.token(
        ["repository:alice/app:pull"], user="alice", password=WRONG_PASSWORD
    )

    assert response.status_code == 401
    assert response.json()["errorCode"] == "INVALID_CREDENTIALS"
    assert "token" not in response.json()


@pytest.mark.parametrize(
    ("scope", "granted"),
    [
        ("repository:alice/app:pull,push", "repository:alice/app:pull,push"),
        ("repository:alice/new/deep:*", "repository:alice/new/deep:*"),
        ("repository:bob/app:pull", ""),
        ("repository:tools/lint:pull,push", "repository:tools/lint:pull"),
        ("repository:tools/lint:delete", ""),
        ("registry:catalog:*", ""),
    ],
)
def test_token_grants_what_account_may(
    token_service: RunningService, scope: str, granted: str
) -> None:
    response = _alice_token(token_service, scope)

    assert response.status_code == 200
    assert response.json()["scope"] == granted


def test_token_admin_gets_catalog(token_service: RunningService) -> None:
    response = token_service.token(["registry:catalog:*", "repository:bob/app:delete"])

    assert response.json()["scope"] == "registry:catalog:* repository:bob/app:delete"


def test_token_claims(token_service: RunningService) -> None:
    body = _alice_token(token_service, "repository:alice/app:pull").json()

    claims = _claims(token_service, body["token"])

    assert body["access_token"] == body["token"]
    assert body["expires_in"] == TOKEN_LIFETIME
    assert claims["sub"] == "alice"
    assert claims["access"] == [{"type": "repository", "name": "alice/app", "actions": ["pull"]}]
    assert claims["exp"] == claims["iat"] + TOKEN_LIFETIME  # type: ignore[operator]


def test_token_without_scope_for_login(token_service: RunningService) -> None:
    body = _alice_token(token_service).json()

    assert _claims(token_service, body["token"])["access"] == []


def test_pull_token_cannot_push_or_delete(token_service: RunningService) -> None:
    token = _alice_token(token_service, "repository:alice/app:pull").json()["token"]
    manifest = token_service.registry_request(
        "GET", "/v2/alice/app/manifests/v1", bearer=token, headers={"Accept": MANIFEST_ACCEPT}
    )
    digest = manifest.headers["Docker-Content-Digest"]

    push = token_service.registry_request(
        "PUT",
        "/v2/alice/app/manifests/v2",
        bearer=token,
        data=manifest.content,
        headers={"Content-Type": MANIFEST_ACCEPT},
    )
    upload = token_service.registry_request("POST", "/v2/alice/app/blobs/uploads/", bearer=token)
    delete = token_service.registry_request(
        "DELETE", f"/v2/alice/app/manifests/{digest}", bearer=token
    )

    assert manifest.status_code == 200
    assert push.status_code == 401
    assert upload.status_code == 401
    assert delete.status_code == 401


def test_token_for_other_namespace_refused_by_registry(token_service: RunningService) -> None:
    token = _alice_token(token_service, "repository:bob/app:pull").json()["token"]

    response = token_service.registry_request("GET", "/v2/bob/app/tags/list", bearer=token)

    assert response.status_code == 401


def test_expired_token_refused(token_service: RunningService) -> None:
    signing_key = load_or_create_signing_key(token_service.data_dir / "keys")
    # Expired 10 minutes ago, far past the registry's 60 s leeway.
    issued = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=11)
    expired = issue_registry_token(
        signing_key,
        subject="alice",
        audience="nerve-registry",
        issuer="nerve-registry-ms",
        access=parse_scopes(["repository:alice/app:pull"]),
        lifetime_seconds=60,
        now=issued,
    ).token
    fresh = _alice_token(token_service, "repository:alice/app:pull").json()["token"]

    refused = token_service.registry_request("GET", "/v2/alice/app/tags/list", bearer=expired)
    accepted = token_service.registry_request("GET", "/v2/alice/app/tags/list", bearer=fresh)

    assert refused.status_code == 401
    assert accepted.status_code == 200


def test_token_from_foreign_key_refused(token_service: RunningService, tmp_path: Path) -> None:
    foreign_key = load_or_create_signing_key(tmp_path / "foreign-keys")
    forged = issue_registry_token(
        foreign_key,
        subject="alice",
        audience="nerve-registry",
        issuer="nerve-registry-ms",
        access=parse_scopes(["repository:bob/app:pull"]),
    ).token

    response = token_service.registry_request("GET", "/v2/bob/app/tags/list", bearer=forged)

    assert response.status_code == 401


@pytest.mark.parametrize(
    "scope",
    [
        "repository:../alice/app:pull",
        "repository:alice/../bob/app:pull",
        "repository:alice%2fapp:pull",
        "repository:alice/app\n:pull",
        "repository:alice/\x00app:pull",
        "repository:" + "a" * 300 + ":pull",
        "repository:alice/app:pull,rm",
        "repository:127.0.0.1:5000/alice/app:pull",
        "registry:catalog:pull",
        "plugin:x:pull",
        "x" * 9000,
    ],
)
def test_token_invalid_scope(token_service: RunningService, scope: str) -> None:
    response = _alice_token(token_service, scope)

    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == response.json()["message"]


@pytest.mark.parametrize(
    "params",
    [
        {"service": "other-registry"},
        {"account": "bob"},
        {"account": "../alice"},
        {"account": "alice\r\nx"},
        {"account": "a" * 500},
    ],
)
def test_token_invalid_parameters(token_service: RunningService, params: dict[str, str]) -> None:
    response = requests.get(
        f"{token_service.url}/auth/token",
        params={"service": "nerve-registry", "account": "alice", **params},
        auth=("alice", ALICE_PASSWORD),
        timeout=10,
    )

    assert response.status_code == 400


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic !!!not-base64",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b"../admin:x").decode(),
        "Basic " + base64.b64encode(b"Alice:x").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:x").decode(),
        "Basic " + "A" * 5000,
    ],
)
def test_token_malformed_credentials(token_service: RunningService, authorization: str) -> None:
    response = requests.get(
        f"{token_service.url}/auth/token",
        params={"service": "nerve-registry"},
        headers={"Authorization": authorization},
        timeout=10,
    )

    assert response.status_code == 400


def test_token_post_password_grant(token_service: RunningService) -> None:
    response = requests.post(
        f"{token_service.url}/auth/token",
        data={
            "grant_type": "password",
            "username": "alice",
            "password": ALICE_PASSWORD,
            "service": "nerve-registry",
            "scope": "repository:alice/app:pull,push repository:bob/app:pull",
            "client_id": "containerd-client",
        },
        timeout=10,
    )

    assert response.status_code == 200
    assert response.json()["scope"] == "repository:alice/app:pull,push"
    assert "refresh_token" not in response.json()
    assert _claims(token_service, response.json()["access_token"])["sub"] == "alice"


@pytest.mark.parametrize(
    ("form", "status", "code"),
    [
        ({"grant_type": "refresh_token", "refresh_token": "x"}, 400, "UNSUPPORTED_GRANT_TYPE"),
        ({"grant_type": "password", "username": "alice"}, 400, "INVALID_INPUT"),
        ({"grant_type": "password", "username": "alice", "password": "nope"}, 401, None),
    ],
)
def test_token_post_rejected(
    token_service: RunningService, form: dict[str, str], status: int, code: str | None
) -> None:
    response = requests.post(f"{token_service.url}/auth/token", data=form, timeout=10)

    assert response.status_code == status
    if code is not None:
        assert response.json()["errorCode"] == code


def test_token_post_json_rejected(token_service: RunningService) -> None:
    response = requests.post(
        f"{token_service.url}/auth/token",
        json={"grant_type": "password", "username": "alice", "password": ALICE_PASSWORD},
        timeout=10,
    )

    assert response.status_code == 400


def test_write_grant_audited(token_service: RunningService) -> None:
    _alice_token(token_service, "repository:alice/audited:pull,push")
    _alice_token(token_service, "repository:alice/read-only:pull")

    events = (
        token_service.api()
        .get(
            f"{token_service.url}/nerve/registry/audit",
            params={"action": "token.grant", "actor": "alice"},
            timeout=10,
        )
        .json()["events"]
    )

    targets = [event["target"] for event in events]
    assert "repository:alice/audited:pull,push" in targets
    assert not any("read-only" in target for target in targets)


def test_failed_token_login_audited(token_service: RunningService) -> None:
    token_service.token(["repository:alice/app:pull"], user="alice", password=WRONG_PASSWORD)

    events = (
        token_service.api()
        .get(
            f"{token_service.url}/nerve/registry/audit",
            params={"action": "login.failure", "actor": "alice"},
            timeout=10,
        )
        .json()["events"]
    )

    assert events[0]["detail"] == "via /auth/token"
    assert events[0]["clientAddress"] == "127.0.0.1"
