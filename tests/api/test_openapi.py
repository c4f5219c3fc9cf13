"""The OpenAPI document describes every endpoint with its bodies and error responses."""

import requests

from tests.support.service import RunningService

REGISTRY_PATHS = [
    "/nerve/registry/images",
    "/nerve/registry/image-tags",
    "/nerve/registry/check-images-status",
    "/nerve/registry/delete-image-tag",
]


def _document(service: RunningService) -> dict[str, object]:
    response = requests.get(f"{service.url}/openapi.json", timeout=10)
    assert response.status_code == 200
    document: dict[str, object] = response.json()
    return document


def test_openapi_lists_registry_endpoints(service: RunningService) -> None:
    paths = _document(service)["paths"]

    assert isinstance(paths, dict)
    for path in REGISTRY_PATHS:
        assert "post" in paths[path]


def test_openapi_lists_session_endpoints(service: RunningService) -> None:
    paths = _document(service)["paths"]

    assert isinstance(paths, dict)
    assert "post" in paths["/auth/login"]
    assert "get" in paths["/auth/logout"]
    assert "get" in paths["/nerve/update/cloud/current-version"]


def test_openapi_documents_errors(service: RunningService) -> None:
    paths = _document(service)["paths"]

    assert isinstance(paths, dict)
    responses = paths["/nerve/registry/delete-image-tag"]["post"]["responses"]
    for status in ("200", "400", "403", "404", "503"):
        assert status in responses


def test_openapi_uses_wire_field_names(service: RunningService) -> None:
    schemas = _document(service)["components"]

    assert isinstance(schemas, dict)
    tag_entry = schemas["schemas"]["TagEntry"]["properties"]
    assert {"tag", "digest", "mediaType", "size", "created", "platforms"} <= set(tag_entry)
    assert "tagCount" in schemas["schemas"]["ImageEntry"]["properties"]


def test_openapi_has_no_422(service: RunningService) -> None:
    document = _document(service)

    assert '"422"' not in str(document).replace("'", '"')
