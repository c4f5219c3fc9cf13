"""Namespaces, roles and shares in the MS API: what a user may list, see and delete."""

from collections.abc import Iterator

import pytest
import requests

from nerve_lib import CheckStatusCodeError, InternalRegistry, MSHandle
from nerve_registry.domain.references import catalog_sort_key
from tests.support import oci
from tests.support.service import ApiSession, RunningService, running_service

PASSWORDS = {"alice": "alice-password", "bob": "bob-password-1", "carol": "carol-password"}
IMAGES = [
    "alice/app:v1",
    "alice/app:v2",
    "alice/tool:v1",
    "alice-other/app:v1",
    "bob/app:v1",
    "team/base:v1",
    "team/sub/x:v1",
    "teammate/app:v1",
    "tools/lint:v1",
    "tools/lint2:v1",
]
ALICE_SEES = ["alice/app", "alice/tool", "tools/lint"]
CAROL_SEES = ["team/base", "team/sub/x", "tools/lint", "tools/lint2"]


@pytest.fixture(scope="module")
def access_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    """A service with users alice, bob and carol, shares for alice and carol, and images."""
    root = tmp_path_factory.mktemp("access")
    with running_service(root / "service") as service:
        for name, password in PASSWORDS.items():
            service.add_account(name, password)

        layout = root / "layout"
        oci.write_image(layout, "v1", seed="access")
        for reference in IMAGES:
            service.push(layout, "v1", reference)

        admin = service.api()
        for account, pattern in [
            ("alice", "tools/lint"),
            ("carol", "team/*"),
            ("carol", "tools/*"),
        ]:
            created = admin.post_json(
                "/nerve/registry/shares", {"account": account, "pattern": pattern}
            )
            assert created.status_code == 201, created.text
        yield service


def _as(service: RunningService, name: str) -> ApiSession:
    return service.api_as(name, PASSWORDS[name])


def _names(response: requests.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [image["name"] for image in response.json()["images"]]


def _walk(session: ApiSession, limit: int) -> list[str]:
    names: list[str] = []
    body: dict[str, object] = {"limit": limit}
    for _ in range(20):
        page = session.registry_call("images", body).json()
        names += [image["name"] for image in page["images"]]
        if page["next"] is None:
            return names
        body = {"limit": limit, "last": page["next"]}
    raise AssertionError("the image list did not end")


def test_user_lists_namespace_and_shares(access_service: RunningService) -> None:
    response = _as(access_service, "alice").registry_call("images", {})

    assert _names(response) == ALICE_SEES


def test_user_lists_prefix_share(access_service: RunningService) -> None:
    response = _as(access_service, "carol").registry_call("images", {})

    assert _names(response) == CAROL_SEES


def test_user_without_images_lists_nothing(access_service: RunningService) -> None:
    response = _as(access_service, "bob").registry_call("images", {"limit": 5})

    assert response.json() == {"images": [{"name": "bob/app", "tagCount": 1}], "next": None}


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_user_pages_cover_each_once(access_service: RunningService, limit: int) -> None:
    assert _walk(_as(access_service, "alice"), limit) == ALICE_SEES


def test_user_page_next_on_last_page(access_service: RunningService) -> None:
    response = _as(access_service, "alice").registry_call("images", {"limit": 3})

    assert response.json()["next"] is None


def test_user_last_skips_ahead(access_service: RunningService) -> None:
    session = _as(access_service, "carol")

    response = session.registry_call("images", {"last": "team/base"})

    assert _names(response) == ["team/sub/x", "tools/lint", "tools/lint2"]


def test_admin_lists_everything(access_service: RunningService) -> None:
    response = access_service.api().registry_call("images", {})

    expected = sorted({reference.split(":")[0] for reference in IMAGES}, key=catalog_sort_key)
    assert _names(response) == expected


def test_tags_of_unseen_image_not_found(access_service: RunningService) -> None:
    session = _as(access_service, "alice")

    unseen = session.registry_call("image-tags", {"image": "bob/app"})
    unknown = session.registry_call("image-tags", {"image": "alice/nothing"})

    assert unseen.status_code == 404
    assert unseen.json()["errorCode"] == "IMAGE_NOT_FOUND"
    assert unseen.json()["message"] == "Image 'bob/app' not found in the registry."
    assert unknown.json()["errorCode"] == "IMAGE_NOT_FOUND"


def test_tags_of_shared_image(access_service: RunningService) -> None:
    response = _as(access_service, "alice").registry_call("image-tags", {"image": "tools/lint"})

    assert response.status_code == 200
    assert [entry["tag"] for entry in response.json()["tags"]] == ["v1"]


def test_status_of_unseen_image_missing(access_service: RunningService) -> None:
    references = ["bob/app:v1", "alice/app:v1", "tools/lint:v1", "nobody/x:v1"]

    response = _as(access_service, "alice").registry_call(
        "check-images-status", {"images": references}
    )

    entries = response.json()["images"]
    assert [entry["status"] for entry in entries] == [
        "missing",
        "available",
        "available",
        "missing",
    ]
    assert entries[0]["digest"] is None
    assert entries[0]["message"] == "Image 'bob/app' not found in the registry."


def test_delete_unseen_image_not_found(access_service: RunningService) -> None:
    response = _as(access_service, "alice").registry_call(
        "delete-image-tag", {"image": "bob/app", "tag": "v1"}
    )

    assert response.status_code == 404
    assert response.json()["errorCode"] == "IMAGE_NOT_FOUND"


def test_delete_shared_image_forbidden(access_service: RunningService) -> None:
    response = _as(access_service, "alice").registry_call(
        "delete-image-tag", {"image": "tools/lint", "tag": "v1"}
    )

    assert response.status_code == 403
    assert response.json()["errorCode"] == "PERMISSION_DENIED"


def test_delete_own_tag_audited(access_service: RunningService) -> None:
    deleted = _as(access_service, "alice").registry_call(
        "delete-image-tag", {"image": "alice/app", "tag": "v2"}
    )

    audit = access_service.api().get(
        f"{access_service.url}/nerve/registry/audit",
        params={"action": "tag.delete", "actor": "alice"},
        timeout=10,
    )

    assert deleted.status_code == 200
    events = audit.json()["events"]
    assert [event["target"] for event in events] == ["alice/app:v2"]
    assert events[0]["digest"] == deleted.json()["digest"]
    assert events[0]["clientAddress"] == "127.0.0.1"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nerve/registry/audit"),
        ("GET", "/nerve/registry/shares"),
        ("POST", "/nerve/registry/shares"),
        ("DELETE", "/nerve/registry/shares/1"),
    ],
)
def test_admin_endpoints_forbidden_for_user(
    access_service: RunningService, method: str, path: str
) -> None:
    session = _as(access_service, "bob")

    response = session.request(
        method, access_service.url + path, json={"account": "bob", "pattern": "*"}, timeout=10
    )

    assert response.status_code == 403
    assert response.json()["errorCode"] == "PERMISSION_DENIED"


def test_share_grants_and_revokes(access_service: RunningService) -> None:
    admin = access_service.api()
    bob = _as(access_service, "bob")

    created = admin.post_json("/nerve/registry/shares", {"account": "bob", "pattern": "team/base"})
    with_share = _names(bob.registry_call("images", {}))
    removed = admin.delete(
        f"{access_service.url}/nerve/registry/shares/{created.json()['id']}", timeout=10
    )
    without_share = _names(bob.registry_call("images", {}))

    assert created.status_code == 201
    assert with_share == ["bob/app", "team/base"]
    assert removed.status_code == 200
    assert without_share == ["bob/app"]


def test_shares_listed_per_account(access_service: RunningService) -> None:
    response = access_service.api().get(
        f"{access_service.url}/nerve/registry/shares", params={"account": "carol"}, timeout=10
    )

    assert [entry["pattern"] for entry in response.json()["shares"]] == ["team/*", "tools/*"]
    assert {entry["createdBy"] for entry in response.json()["shares"]} == {"admin"}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"account": "nobody", "pattern": "team/*"}, 404, "ACCOUNT_NOT_FOUND"),
        ({"account": "bob", "pattern": "team/../x"}, 400, "INVALID_INPUT"),
        ({"account": "Bob", "pattern": "team/*"}, 400, "INVALID_INPUT"),
        ({"account": "carol", "pattern": "team/*"}, 409, "SHARE_EXISTS"),
    ],
)
def test_share_rejected(
    access_service: RunningService, body: dict[str, str], status: int, code: str
) -> None:
    response = access_service.api().post_json("/nerve/registry/shares", body)

    assert response.status_code == status
    assert response.json()["errorCode"] == code


def test_unshare_unknown_not_found(access_service: RunningService) -> None:
    response = access_service.api().delete(
        f"{access_service.url}/nerve/registry/shares/999999", timeout=10
    )

    assert response.status_code == 404
    assert response.json()["errorCode"] == "SHARE_NOT_FOUND"


@pytest.mark.parametrize(
    "params",
    [
        {"since": "yesterday"},
        {"action": "tag.remove"},
        {"actor": "a\u0007b"},
        {"limit": "0"},
        {"before": "-1"},
        {"since": "0001-01-01T00:00:00+14:00"},
        {"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
    ],
)
def test_audit_filter_rejected(access_service: RunningService, params: dict[str, str]) -> None:
    response = access_service.api().get(
        f"{access_service.url}/nerve/registry/audit", params=params, timeout=10
    )

    assert response.status_code == 400


def test_audit_pages(access_service: RunningService) -> None:
    admin = access_service.api()
    url = f"{access_service.url}/nerve/registry/audit"

    first = admin.get(url, params={"limit": 2}, timeout=10).json()
    second = admin.get(url, params={"limit": 2, "before": first["next"]}, timeout=10).json()

    ids = [event["id"] for event in first["events"] + second["events"]]
    assert ids == sorted(ids, reverse=True)
    assert len(set(ids)) == 4


def test_client_denial_opens_no_session(access_service: RunningService) -> None:
    before = access_service.log_text().count("Opened a session for alice")
    handle = MSHandle(access_service.url, "alice", PASSWORDS["alice"], verify=access_service.verify)

    with handle, pytest.raises(CheckStatusCodeError) as caught:
        registry = InternalRegistry(handle)
        registry.get_registry_images(limit=1)
        registry.delete_image_tag("tools/lint", "v1")
    opened = access_service.log_text().count("Opened a session for alice") - before

    assert caught.value.status_code == 403
    assert opened == 1
