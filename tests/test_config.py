"""Settings: the public URL that Docker clients are sent to for tokens."""

import socket

import pytest

from nerve_registry.config import Settings


@pytest.mark.parametrize(
    ("options", "realm"),
    [
        ({}, "http://127.0.0.1:8080/auth/token"),
        ({"port": 9443, "tls_cert": "x"}, "https://127.0.0.1:9443/auth/token"),
        ({"public_url": "https://ms.example:8443/"}, "https://ms.example:8443/auth/token"),
        ({"host": "::1"}, "http://[::1]:8080/auth/token"),
    ],
)
def test_token_realm(options: dict[str, object], realm: str) -> None:
    settings = Settings(**options)  # type: ignore[arg-type]

    assert settings.token_realm == realm


def test_wildcard_host_uses_host_name() -> None:
    settings = Settings(host="0.0.0.0")  # noqa: S104 - not bound

    assert settings.token_realm == f"http://{socket.getfqdn()}:8080/auth/token"
