"""Scopes that Docker clients request from a token endpoint, and the access a policy grants.

A client sends one or more ``scope`` query parameters, and one parameter may
hold several scopes separated by spaces. Each scope is
``TYPE:NAME:ACTION[,ACTION...]`` (Docker registry token authentication):

- ``repository:team/app:pull`` or ``repository:team/app:pull,push``;
- ``repository:team/app:*``, where ``*`` grants every action on the repository,
  including ``delete``, because CNCF Distribution 2.8 accepts ``*`` in a token
  for any action;
- ``registry:catalog:*`` for ``GET /v2/_catalog``.

This service serves one registry, so a repository name carries no registry
host: ``repository:host:5000/app:pull`` and any other name with a ``:`` are
rejected. So are resource classes such as ``repository(plugin):...``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from nerve_registry.domain.references import shown_value, validate_repository
from nerve_registry.errors import InvalidInputError, InvalidReferenceError

REPOSITORY = "repository"
REGISTRY = "registry"
CATALOG = "catalog"
ALL_ACTIONS = "*"

# Actions a token may carry per resource type. "*" stands for all of them.
REPOSITORY_ACTIONS = frozenset({"pull", "push", "delete", ALL_ACTIONS})
REGISTRY_ACTIONS = frozenset({ALL_ACTIONS})

# Docker clients request one or two scopes per token (two when a push mounts a
# blob from another repository). The limit keeps tokens small. It is a guard,
# not a number from the protocol.
MAX_SCOPES = 64


@dataclass(frozen=True)
class Access:
    """Actions on one resource: a scope that a client requests, or an entry of a token's access."""

    type: str
    name: str
    actions: frozenset[str]

    def to_claim(self) -> dict[str, object]:
        """Return the entry for a token's ``access`` claim, with the actions sorted."""
        return {"type": self.type, "name": self.name, "actions": sorted(self.actions)}

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(sorted(self.actions))}"


def parse_scopes(values: Iterable[str]) -> list[Access]:
    """Parse the ``scope`` query parameters of a token request.

    Each value may contain several scopes separated by spaces. Scopes for the
    same resource are merged into one Access with the union of their actions,
    in the order the resources first appear. Raises InvalidInputError naming
    the first malformed scope, and InvalidReferenceError for an invalid
    repository name.
    """
    merged: dict[tuple[str, str], set[str]] = {}
    for value in values:
        for scope in value.split():
            access = parse_scope(scope)
            merged.setdefault((access.type, access.name), set()).update(access.actions)

            if len(merged) > MAX_SCOPES:
                raise InvalidInputError(
                    f"Token request has more than {MAX_SCOPES} scopes. "
                    "Request a token for fewer resources."
                )

    return [
        Access(type=resource_type, name=name, actions=frozenset(actions))
        for (resource_type, name), actions in merged.items()
    ]


def parse_scope(scope: str) -> Access:
    """Parse one ``TYPE:NAME:ACTIONS`` scope. Raises InvalidInputError naming the scope."""
    parts = scope.split(":")
    if len(parts) != 3:
        raise InvalidInputError(
            f"Invalid scope {shown_value(scope)}: use TYPE:NAME:ACTIONS, for example "
            "'repository:team/app:pull,push'. A repository name must not contain ':'."
        )
    resource_type, name, action_list = parts

    actions = frozenset(action_list.split(","))
    if "" in actions:
        raise InvalidInputError(
            f"Invalid scope {shown_value(scope)}: the actions must be a comma-separated "
            "list without empty entries."
        )

    if resource_type == REPOSITORY:
        _validate_repository_name(scope, name)
        _validate_actions(scope, actions, REPOSITORY_ACTIONS)
    elif resource_type == REGISTRY:
        if name != CATALOG:
            raise InvalidInputError(
                f"Invalid scope {shown_value(scope)}: the only registry resource is "
                f"'{CATALOG}', as in 'registry:catalog:*'."
            )
        _validate_actions(scope, actions, REGISTRY_ACTIONS)
    else:
        raise InvalidInputError(
            f"Invalid scope {shown_value(scope)}: unknown resource type "
            f"{shown_value(resource_type)}. Use '{REPOSITORY}' or '{REGISTRY}'."
        )

    return Access(type=resource_type, name=name, actions=actions)


def grant(requested: list[Access], allowed: Callable[[Access], set[str]]) -> list[Access]:
    """Intersect each requested Access with the actions a policy allows on its resource.

    ``allowed`` returns the actions the account may perform on the resource of
    an Access, with ``*`` meaning all of them. A request for ``*`` is granted
    ``*`` when the policy allows ``*``, and otherwise the actions the policy
    allows. Resources left with no action are dropped, so a token for them
    carries no access to them. The Docker token protocol responds to a denied
    scope with a token that lacks it, not with an error, and the registry then
    responds with 401.
    """
    granted: list[Access] = []
    for access in requested:
        actions = _grant_actions(access, allowed(access))
        if actions:
            granted.append(Access(type=access.type, name=access.name, actions=actions))

    return granted


def _grant_actions(access: Access, permitted: set[str]) -> frozenset[str]:
    if ALL_ACTIONS in permitted:
        return access.actions

    if ALL_ACTIONS in access.actions:
        valid = REPOSITORY_ACTIONS if access.type == REPOSITORY else REGISTRY_ACTIONS
        return frozenset(permitted & valid)

    return access.actions & frozenset(permitted)


def _validate_repository_name(scope: str, name: str) -> None:
    try:
        validate_repository(name, field="scope")
    except InvalidReferenceError as error:
        message = f"Invalid scope {shown_value(scope)}. {error.message}"
        raise InvalidReferenceError(message) from error


def _validate_actions(scope: str, actions: frozenset[str], valid: frozenset[str]) -> None:
    unknown = sorted(actions - valid)
    if unknown:
        raise InvalidInputError(
            f"Invalid scope {shown_value(scope)}: unknown action {shown_value(unknown[0])}. "
            f"Use {', '.join(repr(action) for action in sorted(valid))}."
        )
