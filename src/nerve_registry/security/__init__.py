"""Registry bearer tokens: the signing key, scope parsing and granting, and token issuing."""

from nerve_registry.security.keys import SigningKey, libtrust_key_id, load_or_create_signing_key
from nerve_registry.security.scopes import Access, grant, parse_scope, parse_scopes
from nerve_registry.security.tokens import IssuedToken, issue_registry_token, registry_auth_config

__all__ = [
    "Access",
    "IssuedToken",
    "SigningKey",
    "grant",
    "issue_registry_token",
    "libtrust_key_id",
    "load_or_create_signing_key",
    "parse_scope",
    "parse_scopes",
    "registry_auth_config",
]
