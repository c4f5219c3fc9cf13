"""``nerve-registry user``, ``share`` and ``audit`` against a running service."""

from __future__ import annotations

import getpass
import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.support.service import ApiSession, RunningService, running_service

PASSWORDS = {"alice": "alice-password", "bob": "bob-password-1", "dave": "dave-password"}


@pytest.fixture(scope="module")
def cli_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    with running_service(tmp_path_factory.mktemp("cli-accounts") / "service") as service:
        for name, password in PASSWORDS.items():
            service.add_account(name, password)
        yield service


def _cli(
    service: RunningService, *arguments: str, stdin: str = "", password: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``nerve-registry ARGUMENTS``; state commands get --data-dir, client ones the MS URL."""
    environment = {**os.environ, "MS_URL": service.url, "NERVE_DATA_DIR": str(service.data_dir)}
    environment["MS_PSW"] = service.admin_password if password is None else password
    return subprocess.run(
        [sys.executable, "-m", "nerve_registry", *arguments],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
        check=False,
    )


def _session(service: RunningService, name: str, password: str | None = None) -> ApiSession:
    session = service.api_as(name, password or PASSWORDS[name])
    assert "sessionid" in session.headers
    return session


def _images_status(session: ApiSession) -> int:
    return session.registry_call("images", {}).status_code


def test_user_list_json(cli_service: RunningService) -> None:
    result = _cli(cli_service, "user", "list", "--json")

    accounts = {entry["name"]: entry["role"] for entry in json.loads(result.stdout)["accounts"]}
    assert result.returncode == 0
    assert accounts["admin"] == "admin"
    assert accounts["alice"] == "user"


def test_user_list_table(cli_service: RunningService) -> None:
    result = _cli(cli_service, "user", "list")

    assert result.returncode == 0
    assert "alice" in result.stdout
    assert "SESSIONS" in result.stdout


def test_passwd_ends_sessions(cli_service: RunningService) -> None:
    session = _session(cli_service, "alice")

    result = _cli(cli_service, "user", "passwd", "alice", "--password-stdin", stdin="new-pass-1\n")
    PASSWORDS["alice"] = "new-pass-1"

    assert result.returncode == 0, result.stderr
    assert "ended 1 session" in result.stdout
    assert _images_status(session) == 403
    assert _images_status(_session(cli_service, "alice")) == 200


def test_role_change_ends_sessions(cli_service: RunningService) -> None:
    session = _session(cli_service, "bob")

    promoted = _cli(cli_service, "user", "role", "bob", "admin")
    as_admin = _session(cli_service, "bob")
    audit = as_admin.get(f"{cli_service.url}/nerve/registry/audit", timeout=10)
    demoted = _cli(cli_service, "user", "role", "bob", "user")

    assert promoted.returncode == 0, promoted.stderr
    assert _images_status(session) == 403
    assert audit.status_code == 200
    assert demoted.returncode == 0
    assert _images_status(as_admin) == 403


def test_remove_ends_sessions(cli_service: RunningService) -> None:
    session = _session(cli_service, "dave")

    result = _cli(cli_service, "user", "rm", "dave", "--yes")
    login = ApiSession(cli_service.url).login("dave", PASSWORDS["dave"])

    assert result.returncode == 0, result.stderr
    assert _images_status(session) == 403
    assert login.status_code == 403


def test_remove_needs_confirmation(cli_service: RunningService) -> None:
    result = _cli(cli_service, "user", "rm", "alice")

    assert result.returncode == 2
    assert "--yes" in result.stderr


def test_last_admin_kept(cli_service: RunningService) -> None:
    removing = _cli(cli_service, "user", "rm", "admin", "--yes")
    demoting = _cli(cli_service, "user", "role", "admin", "user")

    assert removing.returncode == 1
    assert "only administrator" in removing.stderr
    assert demoting.returncode == 1


def test_unknown_account(cli_service: RunningService) -> None:
    result = _cli(cli_service, "user", "role", "nobody", "admin")

    assert result.returncode == 1
    assert "not found" in result.stderr


def test_share_commands(cli_service: RunningService) -> None:
    added = _cli(cli_service, "share", "add", "alice", "team/*")
    listed = json.loads(_cli(cli_service, "share", "list", "alice", "--json").stdout)
    share_id = listed["shares"][0]["id"]
    removed = _cli(cli_service, "share", "rm", str(share_id))
    after = json.loads(_cli(cli_service, "share", "list", "alice", "--json").stdout)

    assert added.returncode == 0, added.stderr
    assert listed["shares"][0]["pattern"] == "team/*"
    assert listed["shares"][0]["createdBy"] == f"local:{getpass.getuser()}"
    assert removed.returncode == 0
    assert after["shares"] == []


def test_share_invalid_pattern(cli_service: RunningService) -> None:
    result = _cli(cli_service, "share", "add", "alice", "../etc")

    assert result.returncode == 1
    assert "invalid share pattern" in result.stderr


def test_audit_command_json(cli_service: RunningService) -> None:
    result = _cli(cli_service, "audit", "--user", "admin", "--json", "--action", "account.create")

    events = json.loads(result.stdout)["events"]
    assert result.returncode == 0, result.stderr
    assert {event["target"] for event in events} >= {"alice", "bob", "dave"}
    assert {event["actor"] for event in events} == {f"local:{getpass.getuser()}"}


def test_audit_command_filters(cli_service: RunningService) -> None:
    result = _cli(
        cli_service,
        "audit",
        "--user",
        "admin",
        "--json",
        "--since",
        "1h",
        "--actor",
        f"local:{getpass.getuser()}",
        "--limit",
        "2",
    )

    events = json.loads(result.stdout)["events"]
    assert result.returncode == 0, result.stderr
    assert len(events) == 2


def test_audit_command_table(cli_service: RunningService) -> None:
    result = _cli(cli_service, "audit", "--user", "admin", "--limit", "3")

    assert result.returncode == 0, result.stderr
    assert "ACTION" in result.stdout


def test_audit_command_bad_since(cli_service: RunningService) -> None:
    result = _cli(cli_service, "audit", "--user", "admin", "--since", "last week")

    assert result.returncode == 2


def test_audit_command_needs_admin(cli_service: RunningService) -> None:
    result = _cli(cli_service, "audit", "--user", "alice", password=PASSWORDS["alice"])

    assert result.returncode == 1
    assert "PERMISSION_DENIED" in result.stderr
