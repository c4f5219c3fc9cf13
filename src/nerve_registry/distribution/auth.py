"""Bearer challenges of a registry and the token scope each request needs.

CNCF Distribution 2.8 with token authentication requires, per request
(``appendAccessRecords`` in its ``registry/handlers/app.go``):

    request                                          scope
    GET /v2/                                         none, any valid token
    GET /v2/_catalog                                 registry:catalog:*
    GET or HEAD /v2/NAME/...                         repository:NAME:pull
    POST, PUT or PATCH /v2/NAME/...                  repository:NAME:pull,push
    DELETE /v2/NAME/...                              repository:NAME:delete

Knowing the scope before sending lets the client attach the right token to
the first attempt instead of collecting a 401 for every new repository.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

CATALOG_SCOPE = "registry:catalog:*"

# The repository name is greedy, as in Distribution's router, so a name that
# contains a component such as "manifests" still ends before the last one.
_REPOSITORY_ROUTES = (
    re.compile(r"/v2/(?P<name>.+)/tags/list"),
    re.compile(r"/v2/(?P<name>.+)/manifests/[^/]+"),
    re.compile(r"/v2/(?P<name>.+)/blobs/uploads/[^/]*"),
    re.compile(r"/v2/(?P<name>.+)/blobs/[^/]+"),
)
_READ_METHODS = frozenset({"GET", "HEAD"})
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH"})

# One auth-param of RFC 7235: name=token or name="quoted string".
_AUTH_PARAM = re.compile(r'([A-Za-z0-9_-]+)=(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')


@dataclass(frozen=True)
class BearerChallenge:
    """The parameters of a ``WWW-Authenticate: Bearer ...`` response header."""

    realm: str
    service: str
    scope: str


def parse_bearer_challenge(header: str) -> BearerChallenge | None:
    """Parse a Bearer challenge; return None for another scheme or a header without a realm."""
    scheme, _, parameters = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None

    values: dict[str, str] = {}
    for match in _AUTH_PARAM.finditer(parameters):
        quoted, bare = match.group(2), match.group(3)
        value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
        values[match.group(1).lower()] = value

    if not values.get("realm"):
        return None
    return BearerChallenge(
        realm=values["realm"], service=values.get("service", ""), scope=values.get("scope", "")
    )


def scope_for_request(method: str, path: str) -> str:
    """Return the scope Distribution 2.8 requires for ``method path``; "" for none.

    A query in ``path`` is ignored. A path outside the routes above returns "",
    and the registry's challenge then names the scope.
    """
    route = urlsplit(path).path
    if route == "/v2/_catalog":
        return CATALOG_SCOPE

    for pattern in _REPOSITORY_ROUTES:
        match = pattern.fullmatch(route)
        if match is None:
            continue
        actions = _actions_for(method.upper())
        return f"repository:{match.group('name')}:{actions}" if actions else ""

    return ""


def _actions_for(method: str) -> str:
    if method in _READ_METHODS:
        return "pull"
    if method in _WRITE_METHODS:
        return "pull,push"
    if method == "DELETE":
        return "delete"
    return ""
