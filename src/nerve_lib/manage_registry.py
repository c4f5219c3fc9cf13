"""Manage the Docker images in the internal registry of an MS.

:class:`InternalRegistry` lists images and their tags, checks whether images
are complete, and deletes single tags. Each call is one POST to the MS registry
API and returns the decoded JSON response.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from ._handle import MSHandle

logger = logging.getLogger(__name__)

_IMAGES_PATH = "nerve/registry/images"
_IMAGE_TAGS_PATH = "nerve/registry/image-tags"
_CHECK_STATUS_PATH = "nerve/registry/check-images-status"
_DELETE_TAG_PATH = "nerve/registry/delete-image-tag"


class InternalRegistry:
    """Client for the internal registry of one MS.

    The constructor takes only the handle, not the owner, workload name or
    versions that earlier documentation of this class listed.

    Args:
        ms_handle: the MSHandle that sends the requests. It need not be logged
            in, because it logs in when the MS first rejects a request.

    Attributes:
        ms: the handle passed in.

    Example::

        with MSHandle("ms.example") as ms:
            registry = InternalRegistry(ms)
            for image in registry.iter_registry_images():
                print(image["name"], image["tagCount"])

    Every method raises CheckStatusCodeError when the MS responds with a status
    other than 200: 400 for invalid input (the body names the field and the
    rule), 404 for an unknown image or tag, 502 or 503 when the registry behind
    the MS is unreachable or unhealthy. Error bodies have the form
    ``{"errorCode": "UPPER_SNAKE_CASE", "message": "..."}``, which
    ``error.response_text`` contains.
    """

    def __init__(self, ms_handle: MSHandle) -> None:
        self.ms = ms_handle

    def get_registry_images(self, last: str = "", limit: int = 0) -> dict[str, Any]:
        """Return one page of the images in the registry.

        Args:
            last: return only images whose names come after this name. The
                order is that of the registry catalog, which compares names path
                component by path component (``a/b`` sorts before ``a-c``).
                Empty starts at the first image.
            limit: maximum number of images to return. 0 returns all of them.
                Values above the registry's own page size are allowed.

        Returns:
            ``{"images": [{"name": "team/app", "tagCount": 3}, ...], "next": NAME}``.
            Images without tags are left out. ``next`` is the value to pass as
            ``last`` for the following page, and None on the last page.

        Raises:
            TypeError: ``last`` is not a str or ``limit`` is not an int.
            ValueError: ``limit`` is negative.
        """
        _require_type("last", last, str)
        _require_type("limit", limit, int)
        if limit < 0:
            raise ValueError(
                f"limit={limit} is invalid: use 0 for all images or a positive maximum"
            )

        body: dict[str, Any] = {}
        if last:
            body["last"] = last
        if limit > 0:
            body["limit"] = limit
        return self._post(_IMAGES_PATH, body)

    def iter_registry_images(self, page_size: int = 100) -> Iterator[dict[str, Any]]:
        """Yield every image in the registry, fetching ``page_size`` images per request.

        Each item is ``{"name": "team/app", "tagCount": 3}``. The generator
        follows ``next`` from page to page until it is null, so images pushed or
        deleted while it runs may or may not appear.

        Raises:
            TypeError, ValueError: ``page_size`` is not a positive int.
            RuntimeError: a page has no ``images`` list, or its ``next`` is empty
                or equal to the ``last`` sent, which would repeat the page forever.
        """
        _require_type("page_size", page_size, int)
        if page_size <= 0:
            raise ValueError(f"page_size={page_size} is invalid: use a positive number of images")

        last = ""
        while True:
            page = self.get_registry_images(last=last, limit=page_size)
            images = page.get("images")
            if not isinstance(images, list):
                raise RuntimeError(f"{_IMAGES_PATH} returned no images list: {page!r}")
            yield from images

            next_name = page.get("next")
            if next_name is None:
                return
            if not isinstance(next_name, str) or not next_name or next_name == last:
                message = f"{_IMAGES_PATH} returned next={next_name!r} after last={last!r}"
                raise RuntimeError(f"{message}, which would repeat the same page")
            last = next_name

    def get_all_registry_images(self, page_size: int = 100) -> list[dict[str, Any]]:
        """Return every image in the registry, read ``page_size`` images per request."""
        return list(self.iter_registry_images(page_size))

    def get_image_tags(self, image: str) -> dict[str, Any]:
        """Return the tags of one image with their digests, sizes and platforms.

        Returns:
            ``{"image": "team/app", "tags": [TAG, ...]}``, where each TAG is
            ``{"tag": "v1", "digest": "sha256:...", "mediaType": "...", "size":
            BYTES, "created": "RFC 3339 time" or None, "platforms": ["linux/amd64",
            ...]}``. ``size`` counts the manifest, config and layers, and for an
            index its child manifests too.

        Raises:
            TypeError, ValueError: ``image`` is not a non-empty str.
        """
        _require_name("image", image)
        return self._post(_IMAGE_TAGS_PATH, {"image": image})

    def check_image_status(self, images: list[str] | tuple[str, ...] = []) -> dict[str, Any]:  # noqa: B006
        """Check whether each image is in the registry with everything it references.

        The default list is never changed. It stays only to keep the signature
        of the public nerve_lib package.

        Args:
            images: references of the form ``name``, ``name:tag`` or
                ``name@sha256:...``. A bare name means ``name:latest``.

        Returns:
            ``{"images": [{"image": AS_SENT, "status": STATUS, "digest": DIGEST or
            None, "message": "..."}, ...]}`` with one entry per reference, in the
            order sent. STATUS is ``available`` (the manifest and every blob and
            child manifest it references are present), ``missing`` (no such image,
            tag or digest), ``incomplete`` (the manifest is present but something
            it references is not) or ``invalid`` (the reference does not parse,
            and ``message`` gives the reason).

        Raises:
            TypeError: ``images`` is not a list or tuple of str. A single str is
                rejected too, because the API expects a JSON array of references.
        """
        if not isinstance(images, list | tuple):
            message = f"images must be a list of str, not {type(images).__name__}"
            raise TypeError(f"{message}: wrap a single reference as [reference]")
        for index, reference in enumerate(images):
            _require_type(f"images[{index}]", reference, str)

        return self._post(_CHECK_STATUS_PATH, {"images": list(images)})

    def delete_image_tag(self, image: str, tag: str) -> dict[str, Any]:
        """Delete one tag of an image; other tags on the same manifest stay pullable.

        Returns:
            ``{"image": "team/app", "tag": "v1", "digest": "sha256:...",
            "deleted": True}``, where ``digest`` is the manifest the tag pointed to.

        Raises:
            TypeError, ValueError: ``image`` or ``tag`` is not a non-empty str.
        """
        _require_name("image", image)
        _require_name("tag", tag)

        result = self._post(_DELETE_TAG_PATH, {"image": image, "tag": tag})
        logger.info("deleted tag %s of image %s on %s", tag, image, self.ms.url)
        return result

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.ms.post(path, json=body, accepted_status=[200])
        decoded = response.json()
        if not isinstance(decoded, dict):
            raise RuntimeError(f"{path} returned {type(decoded).__name__}, expected a JSON object")
        return decoded


def _require_type(name: str, value: object, expected: type) -> None:
    # bool is a subclass of int, but True as a limit is a mistake, not 1.
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        message = f"{name} must be {expected.__name__}, not {type(value).__name__}: {value!r}"
        raise TypeError(message)


def _require_name(name: str, value: object) -> None:
    _require_type(name, value, str)
    if not value:
        raise ValueError(f"{name} is empty: pass the {name} name")
