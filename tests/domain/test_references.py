import pytest

from nerve_registry.domain.references import (
    ImageReference,
    catalog_sort_key,
    parse_reference,
    validate_digest,
    validate_repository,
    validate_tag,
)
from nerve_registry.errors import InvalidReferenceError

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    "name",
    ["a", "team/app", "a-c", "a--c", "a__b", "a.b/c_d", "x" * 255, "0/1/2", "example.com/app"],
)
def test_repository_valid(name: str) -> None:
    assert validate_repository(name) == name


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("Team/app", "invalid repository name"),
        ("team//app", "invalid repository name"),
        ("/team", "invalid repository name"),
        ("team/", "invalid repository name"),
        ("../etc", "invalid repository name"),
        ("team/%2fapp", "invalid repository name"),
        ("team/app\n", "invalid repository name"),
        ("a_-b", "invalid repository name"),
        ("a___b", "invalid repository name"),
        ("x" * 256, "at most 255"),
        ("", "must not be empty"),
        (5, "must be a string"),
    ],
)
def test_repository_invalid(name: object, fragment: str) -> None:
    with pytest.raises(InvalidReferenceError) as caught:
        validate_repository(name, "image")

    assert fragment in caught.value.message
    assert "'image'" in caught.value.message


@pytest.mark.parametrize("tag", ["v1", "latest", "_x", "1.0.0-rc.1", "A" * 128])
def test_tag_valid(tag: str) -> None:
    assert validate_tag(tag) == tag


@pytest.mark.parametrize("tag", ["", ".v1", "-v1", "v 1", "v1/x", "A" * 129, "v1\x00"])
def test_tag_invalid(tag: str) -> None:
    with pytest.raises(InvalidReferenceError) as caught:
        validate_tag(tag, "tag")

    assert "'tag'" in caught.value.message


def test_digest_valid() -> None:
    assert validate_digest(DIGEST) == DIGEST


@pytest.mark.parametrize(
    "digest", ["sha256:" + "AB" * 32, "sha512:" + "ab" * 64, "sha256:abc", DIGEST + "0", None]
)
def test_digest_invalid(digest: object) -> None:
    with pytest.raises(InvalidReferenceError):
        validate_digest(digest)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("team/app", ImageReference("team/app", "latest", None)),
        ("team/app:v1", ImageReference("team/app", "v1", None)),
        (f"team/app@{DIGEST}", ImageReference("team/app", None, DIGEST)),
        (f"team/app:v1@{DIGEST}", ImageReference("team/app", "v1", DIGEST)),
    ],
)
def test_parse_reference(text: str, expected: ImageReference) -> None:
    assert parse_reference(text) == expected


def test_parse_reference_digest_wins() -> None:
    assert parse_reference(f"team/app:v1@{DIGEST}").reference == DIGEST


@pytest.mark.parametrize(
    "text",
    ["host:5000/team/app:v1", "team/app:", "team/app@", "team/app@sha256:xyz", ":v1", "TEAM/app"],
)
def test_parse_reference_invalid(text: str) -> None:
    with pytest.raises(InvalidReferenceError):
        parse_reference(text, "images[0]")


def test_reference_str_round_trip() -> None:
    text = f"team/app:v1@{DIGEST}"

    assert str(parse_reference(text)) == text


def test_catalog_order_component_wise() -> None:
    names = ["a-c", "a/b", "a", "b", "a/b/c", "a.b"]

    assert sorted(names, key=catalog_sort_key) == ["a", "a/b", "a/b/c", "a-c", "a.b", "b"]


def test_parse_reference_empty_tag_named() -> None:
    with pytest.raises(InvalidReferenceError) as caught:
        parse_reference("team/app:", "images[6]")

    assert "empty tag after ':'" in caught.value.message


@pytest.mark.parametrize("text", ["127.0.0.1:5000/team/app:v1", "localhost/team/app"])
def test_parse_reference_host_prefix_named(text: str) -> None:
    with pytest.raises(InvalidReferenceError) as caught:
        parse_reference(text, "images[0]")

    assert "registry host" in caught.value.message
