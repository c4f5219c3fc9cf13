"""Access rules of the registry: namespaces, roles and shares.

- Role ``admin`` may do everything, including reading the catalog.
- Role ``user`` may pull, push and delete in its namespace, the repositories
  whose names start with ``ACCOUNT_NAME/``, and may pull the repositories that
  an administrator shared with it.

A share pattern is a repository name (``team/app``), a name followed by
``/*`` (``team/*`` matches every repository under ``team/``, at any depth) or
``*`` alone (every repository).

The token endpoint and the MS API both use this module, so ``docker pull``
and the image list agree on what an account may see.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from nerve_registry.domain.images import CatalogSelection
from nerve_registry.domain.references import MAX_NAME_LENGTH, is_valid_repository, shown_value
from nerve_registry.errors import InvalidInputError
from nerve_registry.security.scopes import ALL_ACTIONS, REGISTRY, REPOSITORY, Access

EVERY_REPOSITORY = "*"
PREFIX_SUFFIX = "/*"
MAX_PATTERN_LENGTH = MAX_NAME_LENGTH + len(PREFIX_SUFFIX)

PULL = "pull"
PUSH = "push"
DELETE = "delete"
# Actions that change the registry, which maintenance blocks.
WRITE_ACTIONS = frozenset({PUSH, DELETE, ALL_ACTIONS})


def validate_share_pattern(pattern: object, field: str = "pattern") -> str:
    """Return ``pattern`` if it is ``*``, ``NAME/*`` or a repository name.

    Raises InvalidInputError naming ``field`` and the rule.
    """
    if not isinstance(pattern, str) or not pattern:
        raise InvalidInputError(f"Field '{field}' must be a non-empty string.")

    if pattern == EVERY_REPOSITORY:
        return pattern

    name = pattern.removesuffix(PREFIX_SUFFIX)
    if not is_valid_repository(name):
        raise InvalidInputError(
            f"Field '{field}' has the invalid share pattern {shown_value(pattern)}: use a "
            "repository name (team/app), a name followed by '/*' (team/* for everything "
            "under team/) or '*' for every repository."
        )

    return pattern


def pattern_matches(pattern: str, repository: str) -> bool:
    if pattern == EVERY_REPOSITORY:
        return True
    if pattern.endswith(PREFIX_SUFFIX):
        return repository.startswith(pattern[:-1])
    return repository == pattern


@dataclass(frozen=True)
class AccessPolicy:
    """The registry rights of one account: its name, whether it is an admin, and its shares."""

    account: str
    is_admin: bool
    shared_patterns: tuple[str, ...] = ()

    @classmethod
    def of(cls, account: str, role: str, shared_patterns: Iterable[str] = ()) -> AccessPolicy:
        return cls(
            account=account, is_admin=role == "admin", shared_patterns=tuple(shared_patterns)
        )

    @property
    def namespace(self) -> str:
        """The prefix of the account's own repositories, ``ACCOUNT_NAME/``."""
        return f"{self.account}/"

    def repository_actions(self, repository: str) -> frozenset[str]:
        """Return the actions allowed on ``repository``; ``*`` means all of them."""
        if self.is_admin or repository.startswith(self.namespace):
            return frozenset({ALL_ACTIONS})

        if any(pattern_matches(pattern, repository) for pattern in self.shared_patterns):
            return frozenset({PULL})

        return frozenset()

    def allowed_actions(self, access: Access) -> set[str]:
        """Return the actions allowed on the resource of ``access``, for ``scopes.grant``."""
        if access.type == REPOSITORY:
            return set(self.repository_actions(access.name))
        if access.type == REGISTRY:
            return {ALL_ACTIONS} if self.is_admin else set()
        return set()

    def can_pull(self, repository: str) -> bool:
        return bool(self.repository_actions(repository))

    def can_delete(self, repository: str) -> bool:
        actions = self.repository_actions(repository)
        return ALL_ACTIONS in actions or DELETE in actions

    def catalog_selection(self) -> CatalogSelection:
        """Return the part of the catalog this account may see."""
        if self.is_admin or EVERY_REPOSITORY in self.shared_patterns:
            return CatalogSelection.everything()

        prefixes = {self.namespace}
        names = set()
        for pattern in self.shared_patterns:
            if pattern.endswith(PREFIX_SUFFIX):
                prefixes.add(pattern[:-1])
            else:
                names.add(pattern)

        return CatalogSelection(prefixes=tuple(sorted(prefixes)), names=tuple(sorted(names)))
