"""POST /nerve/registry/images against a service of its own, so the catalog is known exactly."""

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from nerve_registry.domain.references import catalog_sort_key
from tests.support import oci
from tests.support.service import ApiSession, RunningService, running_service

# Names chosen so that component-wise catalog order differs from plain string order.
SPECIAL_NAMES = ["a", "a/b", "a-c", "a.b", "a/b/c", "b"]
NUMBERED_NAMES = [f"team/app{number:02d}" for number in range(24)]
ALL_NAMES = sorted(SPECIAL_NAMES + NUMBERED_NAMES, key=catalog_sort_key)
UNTAGGED = "team/app05"


@pytest.fixture(scope="module")
def catalog_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    """A service whose registry contains 30 images, one of them with all its tags deleted."""
    root = tmp_path_factory.mktemp("images")
    with running_service(root / "service") as service:
        layout = root / "layout"
        oci.write_image(layout, "v1", seed="catalog")
        for name in ALL_NAMES:
            service.push(layout, "v1", f"{name}:v1")
        service.push(layout, "v1", "team/app00:v2")

        api = service.api()
        response = api.registry_call("delete-image-tag", {"image": UNTAGGED, "tag": "v1"})
        assert response.status_code == 200
        yield service


@pytest.fixture
def catalog_api(catalog_service: RunningService) -> Iterator[ApiSession]:
    session = catalog_service.api()
    yield session
    session.close()


def _walk(api: ApiSession, limit: int) -> tuple[list[str], int]:
    names: list[str] = []
    last = None
    pages = 0
    while True:
        body: dict[str, object] = {"limit": limit}
        if last:
            body["last"] = last
        response = api.registry_call("images", body)
        assert response.status_code == 200, response.text
        page = response.json()
        pages += 1
        assert len(page["images"]) <= limit
        names += [image["name"] for image in page["images"]]
        last = page["next"]
        if last is None:
            return names, pages
        assert last == page["images"][-1]["name"]


@pytest.mark.parametrize("limit", [1, 4, 7, 29, 30])
def test_images_pages_cover_each_once(catalog_api: ApiSession, limit: int) -> None:
    expected = [name for name in ALL_NAMES if name != UNTAGGED]

    names, pages = _walk(catalog_api, limit)

    assert names == expected
    assert pages == -(-len(expected) // limit)


def test_images_without_limit_lists_all(catalog_api: ApiSession) -> None:
    response = catalog_api.registry_call("images", {})

    body = response.json()
    assert [image["name"] for image in body["images"]] == [n for n in ALL_NAMES if n != UNTAGGED]
    assert body["next"] is None


def test_images_limit_above_registry_cap(catalog_api: ApiSession) -> None:
    response = catalog_api.registry_call("images", {"limit": 5000})

    assert response.status_code == 200
    assert len(response.json()["images"]) == len(ALL_NAMES) - 1


def test_images_component_order(catalog_api: ApiSession) -> None:
    names = [image["name"] for image in catalog_api.registry_call("images", {}).json()["images"]]

    assert names.index("a/b") < names.index("a-c")
    assert names.index("a/b/c") < names.index("a-c")


def test_images_untagged_left_out(catalog_api: ApiSession) -> None:
    names = [image["name"] for image in catalog_api.registry_call("images", {}).json()["images"]]

    assert UNTAGGED not in names


def test_images_tag_count(catalog_api: ApiSession) -> None:
    images = catalog_api.registry_call("images", {}).json()["images"]
    counts = {image["name"]: image["tagCount"] for image in images}

    assert counts["team/app00"] == 2
    assert counts["team/app01"] == 1


def test_images_last_not_in_catalog(catalog_api: ApiSession) -> None:
    response = catalog_api.registry_call("images", {"last": "a/zzz", "limit": 2})

    assert [image["name"] for image in response.json()["images"]] == ["a-c", "a.b"]


def test_images_last_after_everything(catalog_api: ApiSession) -> None:
    response = catalog_api.registry_call("images", {"last": "zzz"})

    assert response.json() == {"images": [], "next": None}


def test_images_empty_registry(tmp_path: Path) -> None:
    with running_service(tmp_path / "service") as service:
        response = service.api().registry_call("images", {"limit": 10})

    assert response.json() == {"images": [], "next": None}


def test_images_page_reads_one_catalog_page(
    catalog_service: RunningService, catalog_api: ApiSession
) -> None:
    # No other test sends this name, which is not in the catalog.
    response = catalog_api.registry_call("images", {"limit": 3, "last": "a/b/b"})
    log = (catalog_service.data_dir / "logs" / "registry.log").read_text()
    catalog_requests = re.findall(r'"GET (/v2/_catalog\?[^ ]*) HTTP', log)

    assert response.status_code == 200
    assert [image["name"] for image in response.json()["images"]] == ["a/b/c", "a-c", "a.b"]
    assert "/v2/_catalog?n=4&last=a%2Fb%2Fb" in catalog_requests
    assert not any("last=a%2Fb%2Fb" in uri and "n=4&" not in uri for uri in catalog_requests)
