"""No password, token or session id reaches the service log or the registry log."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import requests

from tests.support import oci, skopeo
from tests.support.service import ApiSession, RunningService, running_service

ALICE_PASSWORD = "alice-secret-Password-42"  # noqa: S105 - a test account
WRONG_PASSWORD = "guessed-Secret-Value-17"  # noqa: S105 - a deliberately wrong password
OVERSIZED_SECRET = "oversized-Secret-" + "x" * 2000
# Any JSON Web Token: base64url header and payload that start with '{"'.
JWT_PATTERN = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}")


def _exercise(service: RunningService, layout: Path) -> list[str]:
    """Log in, fail, push, pull and fetch tokens; return every secret that was used."""
    secrets = [service.admin_password, ALICE_PASSWORD, WRONG_PASSWORD, OVERSIZED_SECRET]
    service.add_account("alice", ALICE_PASSWORD)

    session = ApiSession(service.url)
    session.login("alice", ALICE_PASSWORD)
    secrets.append(session.headers["sessionid"])
    session.registry_call("images", {})
    session.get(f"{service.url}/auth/logout", timeout=10)

    ApiSession(service.url).login("alice", WRONG_PASSWORD)
    ApiSession(service.url).login("alice", OVERSIZED_SECRET)
    ApiSession(service.url).post_json("/auth/login", {"identity": "alice", "secret": 12345678})

    for password in (ALICE_PASSWORD, WRONG_PASSWORD):
        response = service.token(
            ["repository:alice/app:pull,push"], user="alice", password=password
        )
        if response.status_code == 200:
            secrets.append(response.json()["token"])
    form = requests.post(
        f"{service.url}/auth/token",
        data={"grant_type": "password", "username": "alice", "password": ALICE_PASSWORD},
        timeout=10,
    )
    secrets.append(form.json()["access_token"])

    host = service.registry_host_port
    skopeo.push(layout, "v1", f"{host}/alice/app:v1", creds=f"alice:{ALICE_PASSWORD}")
    skopeo.inspect_raw(f"{host}/alice/app:v1", creds=f"alice:{ALICE_PASSWORD}")
    with contextlib.suppress(skopeo.SkopeoError):
        skopeo.push(layout, "v1", f"{host}/alice/app:v2", creds=f"alice:{WRONG_PASSWORD}")
    return secrets


def test_logs_contain_no_secrets(tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    oci.write_image(layout, "v1", seed="log secrets")

    with running_service(tmp_path / "service") as service:
        secrets = _exercise(service, layout)
        oversized = ApiSession(service.url).login("alice", OVERSIZED_SECRET)

    logs = {
        "service": service.log_text(),
        "registry": (service.data_dir / "logs" / "registry.log").read_text(errors="replace"),
    }

    assert OVERSIZED_SECRET[:40] not in oversized.text
    assert "Failed login for alice" in logs["service"]
    assert "authorized request" in logs["registry"]
    for name, text in logs.items():
        assert JWT_PATTERN.search(text) is None, f"a token in the {name} log"
        # The initial admin password is printed once on the console by design.
        # A prefix also catches a secret that a message shortened.
        found = [secret[:6] for secret in secrets[1:] if secret[:24] in text]
        assert found == [], f"secrets starting with {found} in the {name} log"
    assert logs["registry"].count(secrets[0]) == 0
    assert logs["service"].count(secrets[0]) == 1
