"""Tokens against the real docker-registry 2.8.2 configured with ``auth: token``.

A 401 from the registry alone does not tell why a token failed, so the tests
for rejected tokens also check the reason in the registry's log.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import re
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from nerve_registry.security import (
    SigningKey,
    issue_registry_token,
    libtrust_key_id,
    load_or_create_signing_key,
    parse_scope,
    parse_scopes,
    registry_auth_config,
)
from nerve_registry.security.keys import KEY_FILE_NAME

from .conftest import ISSUER, SERVICE
from .registry_process import RegistryProcess, start_registry
from .test_keys import GENERATOR_KEY_ID
from .token_server import TokenServer

MISSING_DIGEST = "sha256:" + hashlib.sha256(b"no such manifest").hexdigest()


def _token(signing_key: SigningKey, *scopes: str, **options: Any) -> str:
    claims: dict[str, Any] = {"subject": "user", "audience": SERVICE, "issuer": ISSUER}
    claims.update(options)
    return issue_registry_token(signing_key, access=parse_scopes(scopes), **claims).token


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _challenge(response: httpx.Response) -> dict[str, str]:
    """Parse ``Bearer key="value",...`` from the response's WWW-Authenticate header."""
    header = response.headers["WWW-Authenticate"]
    scheme, _, parameters = header.partition(" ")
    assert scheme == "Bearer"
    return dict(re.findall(r'(\w+)="([^"]*)"', parameters))


def _error_code(response: httpx.Response) -> str:
    code: str = response.json()["errors"][0]["code"]
    return code


def test_base_without_token_challenges(
    token_registry: RegistryProcess, token_server: TokenServer
) -> None:
    response = httpx.get(f"{token_registry.url}/v2/")

    assert response.status_code == 401
    assert _challenge(response) == {"realm": token_server.realm, "service": SERVICE}


def test_challenge_names_scope(token_registry: RegistryProcess) -> None:
    response = httpx.get(f"{token_registry.url}/v2/team/app/tags/list")

    assert response.status_code == 401
    assert _challenge(response)["scope"] == "repository:team/app:pull"


def test_base_with_empty_access_token(
    token_registry: RegistryProcess, signing_key: SigningKey
) -> None:
    response = httpx.get(f"{token_registry.url}/v2/", headers=_bearer(_token(signing_key)))

    assert response.status_code == 200


def test_pull_token_passes_tags_list(
    token_registry: RegistryProcess, signing_key: SigningKey
) -> None:
    token = _token(signing_key, "repository:team/pulled:pull")

    response = httpx.get(f"{token_registry.url}/v2/team/pulled/tags/list", headers=_bearer(token))

    assert response.status_code == 404
    assert _error_code(response) == "NAME_UNKNOWN"


def test_pull_token_rejects_push(token_registry: RegistryProcess, signing_key: SigningKey) -> None:
    token = _token(signing_key, "repository:team/pulled:pull")

    response = httpx.post(
        f"{token_registry.url}/v2/team/pulled/blobs/uploads/", headers=_bearer(token)
    )

    assert response.status_code == 401
    assert _challenge(response)["error"] == "insufficient_scope"
    # The registry lists the actions in map order, which varies between requests.
    assert parse_scope(_challenge(response)["scope"]) == parse_scope(
        "repository:team/pulled:pull,push"
    )


def test_pull_token_rejects_other_repository(
    token_registry: RegistryProcess, signing_key: SigningKey
) -> None:
    token = _token(signing_key, "repository:team/pulled:pull")

    response = httpx.get(f"{token_registry.url}/v2/team/other/tags/list", headers=_bearer(token))

    assert response.status_code == 401
    assert _challenge(response)["error"] == "insufficient_scope"


def test_push_token_starts_upload(token_registry: RegistryProcess, signing_key: SigningKey) -> None:
    token = _token(signing_key, "repository:team/pushed:pull,push")

    response = httpx.post(
        f"{token_registry.url}/v2/team/pushed/blobs/uploads/", headers=_bearer(token)
    )

    assert response.status_code == 202


def test_push_token_rejects_delete(
    token_registry: RegistryProcess, signing_key: SigningKey
) -> None:
    token = _token(signing_key, "repository:team/pushed:pull,push")

    url = f"{token_registry.url}/v2/team/pushed/manifests/{MISSING_DIGEST}"
    response = httpx.delete(url, headers=_bearer(token))

    assert response.status_code == 401
    assert _challenge(response)["error"] == "insufficient_scope"


def test_wildcard_token_passes_delete(
    token_registry: RegistryProcess, signing_key: SigningKey
) -> None:
    token = _token(signing_key, "repository:team/pushed:*")

    url = f"{token_registry.url}/v2/team/pushed/manifests/{MISSING_DIGEST}"
    response = httpx.delete(url, headers=_bearer(token))

    assert response.status_code == 404


def test_catalog_token_lists_catalog(
    token_registry: RegistryProcess, signing_key: SigningKey
) -> None:
    token = _token(signing_key, "registry:catalog:*")

    response = httpx.get(f"{token_registry.url}/v2/_catalog", headers=_bearer(token))

    assert response.status_code == 200
    assert "repositories" in response.json()


def test_pull_token_rejects_catalog(
    token_registry: RegistryProcess, signing_key: SigningKey
) -> None:
    token = _token(signing_key, "repository:team/pulled:pull")

    response = httpx.get(f"{token_registry.url}/v2/_catalog", headers=_bearer(token))

    assert response.status_code == 401
    assert _challenge(response)["scope"] == "registry:catalog:*"


def test_expired_token_rejected(token_registry: RegistryProcess, signing_key: SigningKey) -> None:
    an_hour_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)
    token = _token(signing_key, "repository:team/expired:pull", now=an_hour_ago)

    response = httpx.get(f"{token_registry.url}/v2/team/expired/tags/list", headers=_bearer(token))

    assert response.status_code == 401
    assert _challenge(response)["error"] == "invalid_token"
    assert "token not to be used after" in token_registry.log_text()


def test_future_token_rejected(token_registry: RegistryProcess, signing_key: SigningKey) -> None:
    in_an_hour = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
    token = _token(signing_key, "repository:team/future:pull", now=in_an_hour)

    response = httpx.get(f"{token_registry.url}/v2/team/future/tags/list", headers=_bearer(token))

    assert response.status_code == 401
    assert "token not to be used before" in token_registry.log_text()


def test_other_key_rejected(token_registry: RegistryProcess, tmp_path: Path) -> None:
    other_key = load_or_create_signing_key(tmp_path / "other-keys")
    token = _token(other_key, "repository:team/app:pull")

    response = httpx.get(f"{token_registry.url}/v2/team/app/tags/list", headers=_bearer(token))

    assert response.status_code == 401
    assert _challenge(response)["error"] == "invalid_token"
    assert f'untrusted key with ID: \\"{other_key.key_id}\\"' in token_registry.log_text()


def test_other_key_with_trusted_kid_rejected(
    token_registry: RegistryProcess, signing_key: SigningKey, tmp_path: Path
) -> None:
    other_key = load_or_create_signing_key(tmp_path / "other-keys")
    forged_key = dataclasses.replace(other_key, key_id=signing_key.key_id)
    token = _token(forged_key, "repository:team/forged:pull")

    response = httpx.get(f"{token_registry.url}/v2/team/forged/tags/list", headers=_bearer(token))

    assert response.status_code == 401
    assert "unable to verify token signature" in token_registry.log_text()


def test_kid_without_groups_rejected(
    token_registry: RegistryProcess, signing_key: SigningKey
) -> None:
    ungrouped_key = dataclasses.replace(signing_key, key_id=signing_key.key_id.replace(":", ""))
    token = _token(ungrouped_key, "repository:team/app:pull")

    response = httpx.get(f"{token_registry.url}/v2/team/app/tags/list", headers=_bearer(token))

    assert response.status_code == 401
    assert f'untrusted key with ID: \\"{ungrouped_key.key_id}\\"' in token_registry.log_text()


def test_other_audience_rejected(token_registry: RegistryProcess, signing_key: SigningKey) -> None:
    token = _token(signing_key, "repository:team/app:pull", audience="other-registry")

    response = httpx.get(f"{token_registry.url}/v2/team/app/tags/list", headers=_bearer(token))

    assert response.status_code == 401
    assert _challenge(response)["error"] == "invalid_token"
    assert 'another audience: \\"other-registry\\"' in token_registry.log_text()


def test_other_issuer_rejected(token_registry: RegistryProcess, signing_key: SigningKey) -> None:
    token = _token(signing_key, "repository:team/app:pull", issuer="other-issuer")

    response = httpx.get(f"{token_registry.url}/v2/team/app/tags/list", headers=_bearer(token))

    assert response.status_code == 401
    assert 'untrusted issuer: \\"other-issuer\\"' in token_registry.log_text()


def test_malformed_token_rejected(token_registry: RegistryProcess) -> None:
    response = httpx.get(f"{token_registry.url}/v2/", headers=_bearer("not-a-token"))

    assert response.status_code == 401
    assert _challenge(response)["error"] == "invalid_token"


def test_generator_key_id_trusted(tmp_path: Path) -> None:
    """A fixed key's kid, computed once, matches what the registry computes from its certificate."""
    key_dir = tmp_path / "keys"
    key_dir.mkdir()
    key_path = key_dir / KEY_FILE_NAME
    key_path.write_bytes(
        ec.derive_private_key(1, ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    fixed_key = load_or_create_signing_key(key_dir)
    auth = registry_auth_config(
        realm="http://127.0.0.1:9/token",
        service=SERVICE,
        issuer=ISSUER,
        rootcertbundle=fixed_key.cert_path,
    )

    own_registry = start_registry(tmp_path, auth)
    try:
        response = httpx.get(f"{own_registry.url}/v2/", headers=_bearer(_token(fixed_key)))
    finally:
        own_registry.stop()

    assert fixed_key.key_id == GENERATOR_KEY_ID
    assert response.status_code == 200


def test_expired_certificate_key_trusted(tmp_path: Path) -> None:
    """The registry matches the kid against the certificate's key and ignores its dates."""
    private_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "expired signer")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=20))
        .not_valid_after(now - datetime.timedelta(days=10))
        .sign(private_key, hashes.SHA256())
    )
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    expired_key = SigningKey(
        private_key=private_key,
        certificate=certificate,
        cert_path=bundle,
        key_id=libtrust_key_id(private_key.public_key()),
    )
    auth = registry_auth_config(
        realm="http://127.0.0.1:9/token", service=SERVICE, issuer=ISSUER, rootcertbundle=bundle
    )

    own_registry = start_registry(tmp_path, auth)
    try:
        response = httpx.get(f"{own_registry.url}/v2/", headers=_bearer(_token(expired_key)))
    finally:
        own_registry.stop()

    assert response.status_code == 200


def _fetch_token_for(response: httpx.Response, token_server: TokenServer) -> str:
    """Follow a registry 401 challenge to the token server, as a Docker client does."""
    challenge = _challenge(response)
    token_response = httpx.get(
        challenge["realm"],
        params={"service": challenge["service"], "scope": challenge["scope"]},
        auth=(token_server.username, token_server.password),
    )
    token_response.raise_for_status()
    token: str = token_response.json()["token"]
    return token


def test_challenge_flow_in_namespace(
    token_registry: RegistryProcess, token_server: TokenServer
) -> None:
    url = f"{token_registry.url}/v2/{token_server.username}/flow/tags/list"
    token = _fetch_token_for(httpx.get(url), token_server)

    response = httpx.get(url, headers=_bearer(token))

    assert response.status_code == 404
    assert _error_code(response) == "NAME_UNKNOWN"


def test_challenge_flow_outside_namespace(
    token_registry: RegistryProcess, token_server: TokenServer
) -> None:
    url = f"{token_registry.url}/v2/team/flow/tags/list"
    token = _fetch_token_for(httpx.get(url), token_server)

    response = httpx.get(url, headers=_bearer(token))

    assert response.status_code == 401
    assert _challenge(response)["error"] == "insufficient_scope"
