"""Bearer tokens for the registry, and the registry configuration that trusts them.

The flow (Docker registry token authentication, as CNCF Distribution 2.8
implements it):

1. A client calls the registry without a token. The registry responds with 401 and
   ``WWW-Authenticate: Bearer realm="REALM",service="SERVICE",scope="..."``.
2. The client calls ``REALM?service=SERVICE&scope=...`` with Basic credentials.
   Docker clients and skopeo also send ``account=USERNAME``, which adds
   nothing to the credentials.
   The token endpoint checks them, parses the scopes (``scopes.parse_scopes``),
   intersects them with the account's rights (``scopes.grant``) and responds
   with ``IssuedToken.response_body()``.
3. The client repeats its registry call with ``Authorization: Bearer TOKEN``.
   The registry finds the key in ``rootcertbundle`` by the ``kid`` header and
   verifies the signature. It also requires ``iss`` to equal the configured
   issuer and ``aud`` the configured service. The current time must lie
   between ``nbf`` and ``exp``, each with 60 s of leeway (measured with
   2.8.2), and ``access`` must list the action the call needs.
"""

from __future__ import annotations

import datetime
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import jwt

from nerve_registry.security.keys import SigningKey
from nerve_registry.security.scopes import Access

logger = logging.getLogger(__name__)

SIGNING_ALGORITHM = "ES256"
DEFAULT_LIFETIME_SECONDS = 300

# The service name (token ``aud``, challenge ``service``) and the issuer (token
# ``iss``) that the service's token endpoint and its embedded registry agree on.
TOKEN_SERVICE = "nerve-registry"  # noqa: S105 - a service name, not a password
TOKEN_ISSUER = "nerve-registry-ms"  # noqa: S105 - an issuer name, not a password


@dataclass(frozen=True)
class IssuedToken:
    """A signed registry token with its lifetime in seconds and its issue time (UTC)."""

    token: str
    expires_in: int
    issued_at: datetime.datetime

    def response_body(self) -> dict[str, object]:
        """Return the JSON body of a token endpoint response.

        Docker clients read ``token``, OAuth 2 clients read ``access_token``,
        so both carry the token. ``issued_at`` is RFC 3339.
        """
        return {
            "token": self.token,
            "access_token": self.token,
            "expires_in": self.expires_in,
            "issued_at": self.issued_at.isoformat().replace("+00:00", "Z"),
        }


def issue_registry_token(
    signing_key: SigningKey,
    *,
    subject: str,
    audience: str,
    issuer: str,
    access: list[Access],
    lifetime_seconds: int = DEFAULT_LIFETIME_SECONDS,
    now: datetime.datetime | None = None,
) -> IssuedToken:
    """Sign an ES256 token that grants ``access`` to ``subject`` on the registry ``audience``.

    ``audience`` must equal the registry's ``auth.token.service`` and
    ``issuer`` its ``auth.token.issuer``. ``now`` (timezone-aware, default the
    current time) sets ``iat`` and ``nbf``, and ``exp`` is ``lifetime_seconds``
    later. An empty ``access`` list gives a token that authenticates but
    allows nothing except ``GET /v2/``, which is what ``docker login`` requests.
    Raises ValueError for a naive ``now`` or a lifetime below one second.
    """
    if lifetime_seconds < 1:
        raise ValueError(f"lifetime_seconds must be at least 1, got {lifetime_seconds}")

    issued_at = _issue_time(now)
    expires_at = issued_at + datetime.timedelta(seconds=lifetime_seconds)

    claims: dict[str, object] = {
        "iss": issuer,
        "sub": subject,
        # A single string: Distribution 2.8.2 rejects a list here as a malformed token.
        "aud": audience,
        "exp": int(expires_at.timestamp()),
        "nbf": int(issued_at.timestamp()),
        "iat": int(issued_at.timestamp()),
        "jti": secrets.token_urlsafe(16),
        "access": [entry.to_claim() for entry in access],
    }
    token = jwt.encode(
        claims,
        signing_key.private_key,
        algorithm=SIGNING_ALGORITHM,
        headers={"kid": signing_key.key_id},
    )

    logger.debug(
        "Issued registry token %s for %s: %s",
        claims["jti"],
        subject,
        " ".join(str(entry) for entry in access) or "no access",
    )
    return IssuedToken(token=token, expires_in=lifetime_seconds, issued_at=issued_at)


def _issue_time(now: datetime.datetime | None) -> datetime.datetime:
    """Return ``now`` in UTC, truncated to whole seconds as the claims are."""
    if now is None:
        now = datetime.datetime.now(datetime.UTC)
    elif now.tzinfo is None:
        raise ValueError("now must be timezone-aware, for example datetime.now(UTC)")

    return now.astimezone(datetime.UTC).replace(microsecond=0)


def registry_auth_config(
    *, realm: str, service: str, issuer: str, rootcertbundle: Path
) -> dict[str, object]:
    """Build the value of the ``auth:`` key in the registry's config.yml.

    The keys of ``auth.token`` in CNCF Distribution 2.8.2:

    - ``realm``: the token endpoint URL that the registry sends to clients in
      its 401 challenge. Clients call it as given, so it must be reachable
      from the client, not only from the registry.
    - ``service``: sent in the challenge, and a token's ``aud`` must equal it.
    - ``issuer``: a token's ``iss`` must equal it.
    - ``rootcertbundle``: a PEM file of certificates. The registry trusts the
      public key of each one, found by its libtrust key ID in the ``kid``
      header, or a certificate chain in an ``x5c`` header that ends at one of
      them. The registry reads the file only at start.
    - ``autoredirect`` (optional, default false): replace ``realm`` in the
      challenge by ``https://<request host>/auth/token``. This service leaves
      it unset, because the token endpoint is not on the registry's host.

    ``rootcertbundle`` must be an absolute path, because the registry resolves
    a relative one against its own working directory. Raises ValueError for a
    realm that is not an http or https URL, an empty service or issuer, or a
    relative bundle path.
    """
    scheme = urlsplit(realm).scheme
    if scheme not in ("http", "https") or not urlsplit(realm).netloc:
        raise ValueError(f"realm must be an http or https URL, got {realm!r}")

    if not service:
        raise ValueError("service must not be empty")

    if not issuer:
        raise ValueError("issuer must not be empty")

    if not rootcertbundle.is_absolute():
        raise ValueError(f"rootcertbundle must be an absolute path, got {rootcertbundle}")

    return {
        "token": {
            "realm": realm,
            "service": service,
            "issuer": issuer,
            "rootcertbundle": str(rootcertbundle),
        }
    }
