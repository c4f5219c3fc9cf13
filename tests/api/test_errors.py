"""Bad input gets 400 (or 404, 405, 413) with errorCode and a message naming the field."""

import pytest
import requests

from tests.support.service import ApiSession, RunningService

LONG_NAME = "a/" * 127 + "ab"  # 256 characters


@pytest.mark.parametrize(
    ("endpoint", "body", "field"),
    [
        ("images", {"limit": "10"}, "limit"),
        ("images", {"limit": 0}, "limit"),
        ("images", {"limit": -3}, "limit"),
        ("images", {"limit": 1.5}, "limit"),
        ("images", {"limit": True}, "limit"),
        ("images", {"limit": 2**40}, "limit"),
        ("images", {"last": 7}, "last"),
        ("images", {"last": "Upper/Case"}, "last"),
        ("images", {"last": LONG_NAME}, "last"),
        ("image-tags", {}, "image"),
        ("image-tags", {"image": None}, "image"),
        ("image-tags", {"image": "team//app"}, "image"),
        ("image-tags", {"image": "team/app%2f..%2fx"}, "image"),
        ("image-tags", {"image": "team/app\u0000"}, "image"),
        ("image-tags", {"image": "x" * 5000}, "image"),
        ("check-images-status", {}, "images"),
        ("check-images-status", {"images": "team/app:v1"}, "images"),
        ("check-images-status", {"images": [1, 2]}, "images[0]"),
        ("check-images-status", {"images": ["a"] * 1001}, "images"),
        ("delete-image-tag", {"image": "team/app", "tag": ""}, "tag"),
        ("delete-image-tag", {"image": "team/app", "tag": "a" * 129}, "tag"),
        ("delete-image-tag", {"image": "", "tag": "v1"}, "image"),
    ],
)
def test_invalid_field_rejected(
    api: ApiSession, endpoint: str, body: dict[str, object], field: str
) -> None:
    response = api.registry_call(endpoint, body)

    assert response.status_code == 400, response.text
    payload = response.json()
    assert payload["errorCode"] in {"INVALID_REQUEST", "INVALID_REFERENCE"}
    assert f"'{field}'" in payload["message"]


@pytest.mark.parametrize(
    "raw",
    [b"{", b"not json", b"[]", b'"text"', b"null", b"\xff\xfe", b""],
)
@pytest.mark.parametrize("endpoint", ["images", "image-tags", "check-images-status"])
def test_malformed_body_rejected(
    service: RunningService, api: ApiSession, raw: bytes, endpoint: str
) -> None:
    response = api.post(
        f"{service.url}/nerve/registry/{endpoint}",
        data=raw,
        headers={"Content-Type": "application/json"},
        timeout=10,
    )

    assert response.status_code == 400, response.text
    assert response.json()["errorCode"] == "INVALID_REQUEST"
    assert response.json()["message"]


def test_wrong_content_type_rejected(service: RunningService, api: ApiSession) -> None:
    response = api.post(
        f"{service.url}/nerve/registry/image-tags",
        data=b'{"image": "team/app"}',
        headers={"Content-Type": "text/plain"},
        timeout=10,
    )

    assert response.status_code == 400
    assert response.json()["errorCode"] == "INVALID_REQUEST"


def test_oversized_body_rejected(service: RunningService, api: ApiSession) -> None:
    body = {"images": ["team/app:" + "v" * 100] * 3000}

    response = api.registry_call("check-images-status", body)

    assert response.status_code == 413
    assert response.json()["errorCode"] == "REQUEST_TOO_LARGE"


def test_oversized_chunked_body_rejected(service: RunningService, api: ApiSession) -> None:
    chunks = (b"x" * 65536 for _ in range(8))

    response = api.post(
        f"{service.url}/nerve/registry/images",
        data=chunks,
        headers={"Content-Type": "application/json"},
        timeout=10,
    )

    assert response.status_code == 413


def test_unknown_route(service: RunningService) -> None:
    response = requests.get(f"{service.url}/nerve/registry/nothing-here", timeout=10)

    assert response.status_code == 404
    assert response.json()["errorCode"] == "NOT_FOUND"


def test_wrong_method(service: RunningService) -> None:
    response = requests.get(f"{service.url}/nerve/registry/images", timeout=10)

    assert response.status_code == 405
    assert response.json()["errorCode"] == "METHOD_NOT_ALLOWED"


@pytest.mark.parametrize(
    "body",
    [
        {"identity": "admin"},
        {"identity": 5, "secret": "x"},
        {"identity": "admin", "secret": "x" * 2000},
        {"identity": "", "secret": "x"},
    ],
)
def test_login_invalid_body(service: RunningService, body: dict[str, object]) -> None:
    response = requests.post(f"{service.url}/auth/login", json=body, timeout=10)

    assert response.status_code == 400
    assert response.json()["errorCode"] == "INVALID_REQUEST"


def test_no_error_is_internal(service: RunningService, api: ApiSession) -> None:
    log = service.log_text()

    assert " 500 " not in log
    assert "Traceback" not in log


@pytest.mark.parametrize("secret", [98765432123, ["list-Secret-4711"], "Long-Secret-4711-" * 100])
def test_login_secret_never_echoed(service: RunningService, secret: object) -> None:
    response = requests.post(
        f"{service.url}/auth/login", json={"identity": "admin", "secret": secret}, timeout=10
    )
    secret_prefix = str(secret)[:20]

    assert response.status_code == 400
    assert "'secret'" in response.json()["message"]
    assert secret_prefix not in response.text
    assert secret_prefix not in service.log_text()


def test_unknown_field_rejected(api: ApiSession) -> None:
    response = api.registry_call("images", {"lmit": 2})

    assert response.status_code == 400
    assert "'lmit'" in response.json()["message"]


def test_trailing_slash_not_redirected(service: RunningService, api: ApiSession) -> None:
    response = api.post(
        f"{service.url}/nerve/registry/images/",
        json={},
        headers={"Host": "elsewhere.example"},
        allow_redirects=False,
        timeout=10,
    )

    assert response.status_code == 404
    assert "location" not in response.headers
    assert response.json()["errorCode"] == "NOT_FOUND"


def test_text_content_type_named(service: RunningService, api: ApiSession) -> None:
    response = api.post(
        f"{service.url}/nerve/registry/images",
        data=b"{}",
        headers={"Content-Type": "text/plain"},
        timeout=10,
    )

    assert response.status_code == 400
    assert "Content-Type application/json" in response.json()["message"]


def test_invalid_utf8_body(service: RunningService, api: ApiSession) -> None:
    response = api.post(
        f"{service.url}/nerve/registry/images",
        data=b'{"last": "\xff"}',
        headers={"Content-Type": "application/json"},
        timeout=10,
    )

    assert response.status_code == 400
    assert response.json()["errorCode"] == "INVALID_REQUEST"


def test_health_head(service: RunningService) -> None:
    response = requests.head(f"{service.url}/health", timeout=10)

    assert response.status_code == 200
