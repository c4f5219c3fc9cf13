"""InternalRegistry against the fake MS: paths, bodies, paging and argument checks."""

from __future__ import annotations

from typing import Any

import pytest

from nerve_lib import CheckStatusCodeError, InternalRegistry, MSHandle
from tests.nerve_lib.fake_ms import FakeMS, Reply

IMAGES_PATH = "/nerve/registry/images"
TAGS_PATH = "/nerve/registry/image-tags"
STATUS_PATH = "/nerve/registry/check-images-status"
DELETE_PATH = "/nerve/registry/delete-image-tag"

DIGEST = "sha256:" + "ab" * 32


@pytest.fixture
def registry(ms: MSHandle) -> InternalRegistry:
    ms.login()
    return InternalRegistry(ms)


def sent_bodies(fake: FakeMS, path: str) -> list[Any]:
    return [request.body for request in fake.requests_to("POST", path)]


def test_constructor_keeps_handle(ms: MSHandle) -> None:
    assert InternalRegistry(ms).ms is ms


# get_registry_images


@pytest.mark.parametrize(
    ("arguments", "expected_body"),
    [
        ({}, {}),
        ({"last": "", "limit": 0}, {}),
        ({"last": "team/app"}, {"last": "team/app"}),
        ({"limit": 5}, {"limit": 5}),
        ({"last": "team/app", "limit": 500}, {"last": "team/app", "limit": 500}),
    ],
)
def test_get_registry_images_body(
    registry: InternalRegistry,
    fake_ms: FakeMS,
    arguments: dict[str, Any],
    expected_body: dict[str, Any],
) -> None:
    page = {"images": [{"name": "team/app", "tagCount": 3}], "next": None}
    fake_ms.reply("POST", IMAGES_PATH, Reply(200, page))

    result = registry.get_registry_images(**arguments)

    assert result == page
    assert sent_bodies(fake_ms, IMAGES_PATH) == [expected_body]


def test_get_registry_images_positional(registry: InternalRegistry, fake_ms: FakeMS) -> None:
    fake_ms.reply("POST", IMAGES_PATH, Reply(200, {"images": [], "next": None}))

    registry.get_registry_images("team/app", 2)

    assert sent_bodies(fake_ms, IMAGES_PATH) == [{"last": "team/app", "limit": 2}]


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"limit": "5"}, TypeError),
        ({"limit": 2.5}, TypeError),
        ({"limit": True}, TypeError),
        ({"limit": -1}, ValueError),
        ({"last": None}, TypeError),
        ({"last": 7}, TypeError),
    ],
)
def test_get_registry_images_rejects_misuse(
    registry: InternalRegistry, fake_ms: FakeMS, arguments: dict[str, Any], error: type[Exception]
) -> None:
    sent_before = len(fake_ms.requests)

    with pytest.raises(error):
        registry.get_registry_images(**arguments)

    assert len(fake_ms.requests) == sent_before


def test_get_registry_images_bad_request_raises(
    registry: InternalRegistry, fake_ms: FakeMS
) -> None:
    body = {"errorCode": "INVALID_INPUT", "message": "Field 'last' is invalid."}
    fake_ms.reply("POST", IMAGES_PATH, Reply(400, body))

    with pytest.raises(CheckStatusCodeError) as caught:
        registry.get_registry_images(last="Team/App")

    assert caught.value.status_code == 400
    assert "INVALID_INPUT" in caught.value.response_text


def test_only_200_is_accepted(registry: InternalRegistry, fake_ms: FakeMS) -> None:
    fake_ms.reply("POST", IMAGES_PATH, Reply(204))

    with pytest.raises(CheckStatusCodeError) as caught:
        registry.get_registry_images()

    assert caught.value.status_code == 204


def test_non_object_response_raises(registry: InternalRegistry, fake_ms: FakeMS) -> None:
    fake_ms.reply("POST", IMAGES_PATH, Reply(200, ["team/app"]))

    with pytest.raises(RuntimeError, match="expected a JSON object"):
        registry.get_registry_images()


# Paging


def test_iterator_follows_next_across_pages(registry: InternalRegistry, fake_ms: FakeMS) -> None:
    fake_ms.reply(
        "POST",
        IMAGES_PATH,
        Reply(
            200,
            {"images": [{"name": "a", "tagCount": 1}, {"name": "b", "tagCount": 2}], "next": "b"},
        ),
        Reply(
            200,
            {"images": [{"name": "c", "tagCount": 1}, {"name": "d", "tagCount": 4}], "next": "d"},
        ),
        Reply(200, {"images": [{"name": "e", "tagCount": 1}], "next": None}),
    )

    names = [image["name"] for image in registry.iter_registry_images(page_size=2)]

    assert names == ["a", "b", "c", "d", "e"]
    assert sent_bodies(fake_ms, IMAGES_PATH) == [
        {"limit": 2},
        {"last": "b", "limit": 2},
        {"last": "d", "limit": 2},
    ]


def test_iterator_is_lazy(registry: InternalRegistry, fake_ms: FakeMS) -> None:
    fake_ms.reply(
        "POST", IMAGES_PATH, Reply(200, {"images": [{"name": "a", "tagCount": 1}], "next": "a"})
    )

    first = next(registry.iter_registry_images(page_size=1))

    assert first == {"name": "a", "tagCount": 1}
    assert len(fake_ms.requests_to("POST", IMAGES_PATH)) == 1


def test_iterator_rejects_repeated_next(registry: InternalRegistry, fake_ms: FakeMS) -> None:
    fake_ms.reply(
        "POST",
        IMAGES_PATH,
        Reply(200, {"images": [{"name": "a", "tagCount": 1}], "next": "a"}),
    )

    with pytest.raises(RuntimeError, match="repeat the same page"):
        list(registry.iter_registry_images(page_size=1))

    assert len(fake_ms.requests_to("POST", IMAGES_PATH)) == 2


def test_iterator_rejects_missing_images(registry: InternalRegistry, fake_ms: FakeMS) -> None:
    fake_ms.reply("POST", IMAGES_PATH, Reply(200, {"next": None}))

    with pytest.raises(RuntimeError, match="no images list"):
        list(registry.iter_registry_images())


@pytest.mark.parametrize(
    ("page_size", "error"), [(0, ValueError), (-3, ValueError), ("10", TypeError)]
)
def test_iterator_rejects_bad_page_size(
    registry: InternalRegistry, page_size: Any, error: type[Exception]
) -> None:
    with pytest.raises(error):
        next(registry.iter_registry_images(page_size=page_size))


def test_get_all_registry_images(registry: InternalRegistry, fake_ms: FakeMS) -> None:
    fake_ms.reply(
        "POST",
        IMAGES_PATH,
        Reply(200, {"images": [{"name": "a", "tagCount": 1}], "next": "a"}),
        Reply(200, {"images": [{"name": "b", "tagCount": 1}], "next": None}),
    )

    images = registry.get_all_registry_images(page_size=1)

    assert images == [{"name": "a", "tagCount": 1}, {"name": "b", "tagCount": 1}]


# get_image_tags


def test_get_image_tags_body(registry: InternalRegistry, fake_ms: FakeMS) -> None:
    tag = {
        "tag": "v1",
        "digest": DIGEST,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "size": 1234,
        "created": None,
        "platforms": ["linux/amd64"],
    }
    fake_ms.reply("POST", TAGS_PATH, Reply(200, {"image": "team/app", "tags": [tag]}))

    result = registry.get_image_tags("team/app")

    assert result == {"image": "team/app", "tags": [tag]}
    assert sent_bodies(fake_ms, TAGS_PATH) == [{"image": "team/app"}]


@pytest.mark.parametrize(
    ("image", "error"), [("", ValueError), (None, TypeError), (["a"], TypeError)]
)
def test_get_image_tags_rejects_misuse(
    registry: InternalRegistry, fake_ms: FakeMS, image: Any, error: type[Exception]
) -> None:
    with pytest.raises(error):
        registry.get_image_tags(image)

    assert fake_ms.requests_to("POST", TAGS_PATH) == []


def test_get_image_tags_unknown_image_raises(registry: InternalRegistry, fake_ms: FakeMS) -> None:
    fake_ms.reply("POST", TAGS_PATH, Reply(404, {"errorCode": "IMAGE_NOT_FOUND", "message": "No."}))

    with pytest.raises(CheckStatusCodeError) as caught:
        registry.get_image_tags("team/missing")

    assert caught.value.status_code == 404


# check_image_status


def test_check_image_status_body(registry: InternalRegistry, fake_ms: FakeMS) -> None:
    answer = {
        "images": [
            {"image": "team/app:v1", "status": "available", "digest": DIGEST, "message": "ok"},
            {"image": "team/gone", "status": "missing", "digest": None, "message": "no tag"},
        ]
    }
    fake_ms.reply("POST", STATUS_PATH, Reply(200, answer))

    result = registry.check_image_status(["team/app:v1", "team/gone"])

    assert result == answer
    assert sent_bodies(fake_ms, STATUS_PATH) == [{"images": ["team/app:v1", "team/gone"]}]


def test_check_image_status_default_sends_empty(
    registry: InternalRegistry, fake_ms: FakeMS
) -> None:
    fake_ms.reply("POST", STATUS_PATH, Reply(200, {"images": []}))

    registry.check_image_status()

    assert sent_bodies(fake_ms, STATUS_PATH) == [{"images": []}]


def test_check_image_status_keeps_default_list(registry: InternalRegistry, fake_ms: FakeMS) -> None:
    fake_ms.reply("POST", STATUS_PATH, Reply(200, {"images": []}))

    registry.check_image_status()
    registry.check_image_status()

    assert InternalRegistry.check_image_status.__defaults__ == ([],)


def test_check_image_status_accepts_tuple(registry: InternalRegistry, fake_ms: FakeMS) -> None:
    fake_ms.reply("POST", STATUS_PATH, Reply(200, {"images": []}))

    registry.check_image_status(("team/app", "team/db:5"))

    assert sent_bodies(fake_ms, STATUS_PATH) == [{"images": ["team/app", "team/db:5"]}]


@pytest.mark.parametrize("images", ["team/app", None, {"team/app"}, ["team/app", 3]])
def test_check_image_status_rejects_misuse(
    registry: InternalRegistry, fake_ms: FakeMS, images: Any
) -> None:
    with pytest.raises(TypeError):
        registry.check_image_status(images)

    assert fake_ms.requests_to("POST", STATUS_PATH) == []


# delete_image_tag


def test_delete_image_tag_body(registry: InternalRegistry, fake_ms: FakeMS) -> None:
    answer = {"image": "team/app", "tag": "v1", "digest": DIGEST, "deleted": True}
    fake_ms.reply("POST", DELETE_PATH, Reply(200, answer))

    result = registry.delete_image_tag("team/app", "v1")

    assert result == answer
    assert sent_bodies(fake_ms, DELETE_PATH) == [{"image": "team/app", "tag": "v1"}]


@pytest.mark.parametrize(
    ("image", "tag", "error"),
    [("", "v1", ValueError), ("team/app", "", ValueError), ("team/app", 1, TypeError)],
)
def test_delete_image_tag_rejects_misuse(
    registry: InternalRegistry, fake_ms: FakeMS, image: Any, tag: Any, error: type[Exception]
) -> None:
    with pytest.raises(error):
        registry.delete_image_tag(image, tag)

    assert fake_ms.requests_to("POST", DELETE_PATH) == []


def test_delete_unknown_tag_raises(registry: InternalRegistry, fake_ms: FakeMS) -> None:
    fake_ms.reply("POST", DELETE_PATH, Reply(404, {"errorCode": "TAG_NOT_FOUND", "message": "No."}))

    with pytest.raises(CheckStatusCodeError) as caught:
        registry.delete_image_tag("team/app", "v9")

    assert caught.value.status_code == 404


def test_registry_logs_in_on_demand(ms: MSHandle, fake_ms: FakeMS) -> None:
    fake_ms.reply("POST", IMAGES_PATH, Reply(200, {"images": [], "next": None}))

    InternalRegistry(ms).get_registry_images()

    assert [request.path for request in fake_ms.requests] == [
        IMAGES_PATH,
        "/auth/login",
        IMAGES_PATH,
    ]
