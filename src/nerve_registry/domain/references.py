"""Repository names, tags, digests and image references, checked against their grammars.

The grammars are those of the OCI distribution specification (v1.1):

- a repository name is one or more path components separated by ``/``, each
  component lowercase letters and digits, joined by ``.``, ``_``, ``__`` or
  one or more ``-``; the whole name is at most 255 characters;
- a tag is ``[A-Za-z0-9_][A-Za-z0-9._-]{0,127}``;
- this service accepts only ``sha256`` digests: ``sha256:`` and 64 lowercase
  hex digits.

Every check runs before any registry call, so a value that could change the
meaning of a registry URL (``..``, ``%2f``, control characters) never leaves
the service.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nerve_registry.errors import InvalidReferenceError

MAX_NAME_LENGTH = 255
MAX_TAG_LENGTH = 128
DEFAULT_TAG = "latest"

_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_NAME_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
_DIGEST_RE = re.compile(r"sha256:[a-f0-9]{64}")

_SHOWN_VALUE_LENGTH = 80

NAME_RULE = (
    "lowercase letters and digits in path components separated by '/', each component "
    "joined only by '.', '_', '__' or '-', at most 255 characters"
)
TAG_RULE = (
    "letters, digits, '_', '.' and '-', starting with a letter, digit or '_', "
    "at most 128 characters"
)
DIGEST_RULE = "'sha256:' followed by 64 lowercase hex digits"


@dataclass(frozen=True)
class ImageReference:
    """A parsed ``name``, ``name:tag`` or ``name@sha256:...`` reference.

    ``reference`` is what the registry's manifest endpoint takes: the digest when
    one was given, else the tag.
    """

    repository: str
    tag: str | None
    digest: str | None

    @property
    def reference(self) -> str:
        return self.digest or self.tag or DEFAULT_TAG

    def __str__(self) -> str:
        text = self.repository
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text


def shown_value(value: object) -> str:
    """Render a rejected value for an error message: quoted, escaped and shortened."""
    text = repr(value)
    if len(text) > _SHOWN_VALUE_LENGTH:
        text = text[: _SHOWN_VALUE_LENGTH - 3] + "..."
    return text


def validate_repository(name: object, field: str = "image") -> str:
    """Return ``name`` if it is a valid repository name, else raise InvalidReferenceError."""
    if not isinstance(name, str):
        raise InvalidReferenceError(f"Field '{field}' must be a string, got {shown_value(name)}.")

    if not name:
        raise InvalidReferenceError(f"Field '{field}' must not be empty.")

    if len(name) > MAX_NAME_LENGTH:
        raise InvalidReferenceError(
            f"Field '{field}' is {len(name)} characters long; a repository name has at most "
            f"{MAX_NAME_LENGTH}."
        )

    if not _NAME_RE.fullmatch(name):
        raise InvalidReferenceError(
            f"Field '{field}' has the invalid repository name {shown_value(name)}: use {NAME_RULE}."
        )

    return name


def validate_tag(tag: object, field: str = "tag") -> str:
    """Return ``tag`` if it is a valid tag, else raise InvalidReferenceError."""
    if not isinstance(tag, str):
        raise InvalidReferenceError(f"Field '{field}' must be a string, got {shown_value(tag)}.")

    if not tag:
        raise InvalidReferenceError(f"Field '{field}' must not be empty.")

    if not _TAG_RE.fullmatch(tag):
        raise InvalidReferenceError(
            f"Field '{field}' has the invalid tag {shown_value(tag)}: use {TAG_RULE}."
        )

    return tag


def validate_digest(digest: object, field: str = "digest") -> str:
    """Return ``digest`` if it is a valid sha256 digest, else raise InvalidReferenceError."""
    if not isinstance(digest, str) or not _DIGEST_RE.fullmatch(digest):
        raise InvalidReferenceError(
            f"Field '{field}' has the invalid digest {shown_value(digest)}: use {DIGEST_RULE}."
        )

    return digest


def is_valid_repository(name: str) -> bool:
    return len(name) <= MAX_NAME_LENGTH and _NAME_RE.fullmatch(name) is not None


def is_valid_tag(tag: str) -> bool:
    return _TAG_RE.fullmatch(tag) is not None


def parse_reference(text: object, field: str = "image") -> ImageReference:
    """Parse ``name``, ``name:tag``, ``name@digest`` or ``name:tag@digest``.

    A bare name means ``name:latest``. A registry host in front of the name
    (``host:5000/team/app``) is not part of a repository name and is rejected.
    Raises InvalidReferenceError naming ``field`` and the rule that failed.
    """
    if not isinstance(text, str):
        raise InvalidReferenceError(f"Field '{field}' must be a string, got {shown_value(text)}.")

    if not text:
        raise InvalidReferenceError(f"Field '{field}' must not be empty.")

    # 1. A digest follows the last '@'.
    name_and_tag, at_sign, digest_text = text.partition("@")
    digest = validate_digest(digest_text, field) if at_sign else None

    # 2. A tag follows a ':' that comes after the last '/'.
    tag: str | None = None
    slash = name_and_tag.rfind("/")
    colon = name_and_tag.rfind(":")
    if colon > slash:
        if colon == len(name_and_tag) - 1:
            raise InvalidReferenceError(
                f"Field '{field}' has an empty tag after ':' in {shown_value(text)}."
            )
        tag = validate_tag(name_and_tag[colon + 1 :], field)
        name_and_tag = name_and_tag[:colon]

    # 3. What is left must be a repository name, without a registry host in front.
    first_component = name_and_tag.split("/", 1)[0]
    if "/" in name_and_tag and (":" in first_component or first_component == "localhost"):
        raise InvalidReferenceError(
            f"Field '{field}' starts with the registry host {shown_value(first_component)}: "
            "send the repository path without it, e.g. 'team/app:v1'."
        )
    repository = validate_repository(name_and_tag, field)

    if tag is None and digest is None:
        tag = DEFAULT_TAG

    return ImageReference(repository=repository, tag=tag, digest=digest)


def catalog_sort_key(name: str) -> str:
    """Return the key that orders names as the registry catalog does.

    Distribution compares names path component by path component, so ``a/b``
    sorts before ``a-c``. Replacing ``/`` with a character below every
    character allowed in a name gives the same order with plain string
    comparison.
    """
    return name.replace("/", "\x00")
