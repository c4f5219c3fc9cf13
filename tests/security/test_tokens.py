"""Token claims and header, decoded with PyJWT, and the registry's auth configuration."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import jwt
import pytest

from nerve_registry.security import (
    Access,
    SigningKey,
    issue_registry_token,
    parse_scopes,
    registry_auth_config,
)

AUDIENCE = "registry.test"
ISSUER = "issuer.test"
NOW = datetime.datetime(2030, 5, 17, 8, 30, 15, 123456, tzinfo=datetime.UTC)


def _decode(signing_key: SigningKey, token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(
        token,
        signing_key.private_key.public_key(),
        algorithms=["ES256"],
        audience=AUDIENCE,
        issuer=ISSUER,
        options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
    )
    return claims


def _issue(signing_key: SigningKey, access: list[Access], **options: Any) -> str:
    return issue_registry_token(
        signing_key,
        subject="alice",
        audience=AUDIENCE,
        issuer=ISSUER,
        access=access,
        **options,
    ).token


def test_header_names_key_and_algorithm(signing_key: SigningKey) -> None:
    header = jwt.get_unverified_header(_issue(signing_key, []))

    assert header["alg"] == "ES256"
    assert header["kid"] == signing_key.key_id
    assert header["typ"] == "JWT"


def test_header_has_no_certificate_chain(signing_key: SigningKey) -> None:
    header = jwt.get_unverified_header(_issue(signing_key, []))

    assert "x5c" not in header
    assert "jwk" not in header


def test_claims_name_parties(signing_key: SigningKey) -> None:
    claims = _decode(signing_key, _issue(signing_key, []))

    assert claims["iss"] == ISSUER
    assert claims["sub"] == "alice"
    assert claims["aud"] == AUDIENCE


def test_claims_times_follow_now(signing_key: SigningKey) -> None:
    claims = _decode(signing_key, _issue(signing_key, [], now=NOW, lifetime_seconds=600))

    issued = int(NOW.replace(microsecond=0).timestamp())
    assert claims["iat"] == issued
    assert claims["nbf"] == issued
    assert claims["exp"] == issued + 600


def test_claims_access_entries(signing_key: SigningKey) -> None:
    access = parse_scopes(["repository:team/app:push,pull registry:catalog:*"])

    claims = _decode(signing_key, _issue(signing_key, access))

    assert claims["access"] == [
        {"type": "repository", "name": "team/app", "actions": ["pull", "push"]},
        {"type": "registry", "name": "catalog", "actions": ["*"]},
    ]


def test_claims_empty_access(signing_key: SigningKey) -> None:
    claims = _decode(signing_key, _issue(signing_key, []))

    assert claims["access"] == []


def test_jti_differs_per_token(signing_key: SigningKey) -> None:
    first = _decode(signing_key, _issue(signing_key, [], now=NOW))
    second = _decode(signing_key, _issue(signing_key, [], now=NOW))

    assert first["jti"] != second["jti"]


def test_issued_token_fields(signing_key: SigningKey) -> None:
    issued = issue_registry_token(
        signing_key,
        subject="alice",
        audience=AUDIENCE,
        issuer=ISSUER,
        access=[],
        lifetime_seconds=120,
        now=NOW,
    )

    assert issued.expires_in == 120
    assert issued.issued_at == NOW.replace(microsecond=0)


def test_response_body(signing_key: SigningKey) -> None:
    issued = issue_registry_token(
        signing_key, subject="alice", audience=AUDIENCE, issuer=ISSUER, access=[], now=NOW
    )

    body = issued.response_body()

    assert body["token"] == issued.token
    assert body["access_token"] == issued.token
    assert body["expires_in"] == 300
    assert body["issued_at"] == "2030-05-17T08:30:15Z"


def test_now_in_other_zone_converted(signing_key: SigningKey) -> None:
    zone = datetime.timezone(datetime.timedelta(hours=2))
    local_now = NOW.astimezone(zone)

    claims = _decode(signing_key, _issue(signing_key, [], now=local_now))

    assert claims["iat"] == int(NOW.replace(microsecond=0).timestamp())


def test_naive_now_rejected(signing_key: SigningKey) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        _issue(signing_key, [], now=datetime.datetime(2030, 1, 1))


def test_zero_lifetime_rejected(signing_key: SigningKey) -> None:
    with pytest.raises(ValueError, match="lifetime_seconds"):
        _issue(signing_key, [], lifetime_seconds=0)


def test_auth_config_token_section(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.pem"

    config = registry_auth_config(
        realm="https://ms.example/auth/token", service="svc", issuer="iss", rootcertbundle=bundle
    )

    assert config == {
        "token": {
            "realm": "https://ms.example/auth/token",
            "service": "svc",
            "issuer": "iss",
            "rootcertbundle": str(bundle),
        }
    }


@pytest.mark.parametrize(
    ("realm", "service", "issuer", "bundle", "message"),
    [
        ("ftp://127.0.0.1/token", "svc", "iss", "/keys/cert.pem", "realm"),
        ("/token", "svc", "iss", "/keys/cert.pem", "realm"),
        ("http://127.0.0.1/token", "", "iss", "/keys/cert.pem", "service"),
        ("http://127.0.0.1/token", "svc", "", "/keys/cert.pem", "issuer"),
        ("http://127.0.0.1/token", "svc", "iss", "keys/cert.pem", "absolute"),
    ],
)
def test_auth_config_invalid(
    realm: str, service: str, issuer: str, bundle: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        registry_auth_config(
            realm=realm, service=service, issuer=issuer, rootcertbundle=Path(bundle)
        )
