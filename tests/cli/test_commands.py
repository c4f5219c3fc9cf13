"""The nerve-registry command line against the real service: output, JSON and exit codes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import oci
from tests.support.service import ApiSession, RunningService


def run_cli(
    arguments: list[str],
    service: RunningService | None = None,
    *,
    stdin: str | None = None,
    password: str | None = None,
) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("MS_")}
    if service is not None:
        environment |= {
            "MS_URL": service.url,
            "MS_USR": "admin",
            "MS_PSW": password if password is not None else service.admin_password,
        }
    return subprocess.run(
        [sys.executable, "-m", "nerve_registry", *arguments],
        input=stdin,
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
    )


@pytest.fixture
def pushed(service: RunningService, oci_layout: Path, repository: str) -> str:
    """The test's repository with tags v1 and v2 on one manifest."""
    oci.write_image(oci_layout, "v1")
    for tag in ("v1", "v2"):
        service.push(oci_layout, "v1", f"{repository}:{tag}")
    return repository


def test_images_table(service: RunningService, pushed: str) -> None:
    result = run_cli(["images"], service)

    assert result.returncode == 0, result.stderr
    assert "IMAGE" in result.stdout
    assert any(line.split()[:2] == [pushed, "2"] for line in result.stdout.splitlines())


def test_images_json_page(service: RunningService, pushed: str) -> None:
    result = run_cli(["images", "--json", "--limit", "1", "--last", pushed[:-1]], service)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["images"] == [{"name": pushed, "tagCount": 2}]


def test_tags_table(service: RunningService, pushed: str) -> None:
    result = run_cli(["tags", pushed], service)

    assert result.returncode == 0, result.stderr
    assert "linux/amd64" in result.stdout
    assert [line.split()[0] for line in result.stdout.splitlines()[1:]] == ["v1", "v2"]


def test_tags_unknown_image(service: RunningService) -> None:
    result = run_cli(["tags", "tests/never-pushed"], service)

    assert result.returncode == 1
    assert "IMAGE_NOT_FOUND" in result.stderr
    assert "Traceback" not in result.stderr


def _status_column(output: str) -> list[str]:
    return [line.split()[1] for line in output.splitlines()[1:]]


def test_status_all_available(service: RunningService, pushed: str) -> None:
    result = run_cli(["status", f"{pushed}:v1", f"{pushed}:v2"], service)

    assert result.returncode == 0, result.stderr
    assert _status_column(result.stdout) == ["available", "available"]


def test_status_missing_exits_1(service: RunningService, pushed: str) -> None:
    result = run_cli(["status", "--json", f"{pushed}:v1", f"{pushed}:nope"], service)

    assert result.returncode == 1
    statuses = [entry["status"] for entry in json.loads(result.stdout)["images"]]
    assert statuses == ["available", "missing"]


def test_status_reads_file(service: RunningService, pushed: str, tmp_path: Path) -> None:
    listing = tmp_path / "images.txt"
    listing.write_text(f"# deployment\n{pushed}:v1\n\n{pushed}:v2\n")

    result = run_cli(["status", "--file", str(listing)], service)

    assert result.returncode == 0, result.stderr
    assert _status_column(result.stdout) == ["available", "available"]


def test_rm_deletes_one_tag(service: RunningService, pushed: str) -> None:
    result = run_cli(["rm", f"{pushed}:v1"], service)
    remaining = run_cli(["tags", "--json", pushed], service)

    assert result.returncode == 0, result.stderr
    assert f"Deleted {pushed}:v1" in result.stdout
    assert [entry["tag"] for entry in json.loads(remaining.stdout)["tags"]] == ["v2"]


def test_rm_partial_failure_exits_1(service: RunningService, pushed: str) -> None:
    result = run_cli(["rm", f"{pushed}:nope", f"{pushed}:v1"], service)

    assert result.returncode == 1
    assert "TAG_NOT_FOUND" in result.stderr
    assert f"Deleted {pushed}:v1" in result.stdout


def test_rm_without_tag_is_usage_error(service: RunningService) -> None:
    result = run_cli(["rm", "tests/app"], service)

    assert result.returncode == 2
    assert "IMAGE:TAG" in result.stderr


def test_unknown_option_is_usage_error(service: RunningService) -> None:
    result = run_cli(["images", "--limit", "zero"], service)

    assert result.returncode == 2


def test_wrong_password_exits_1(service: RunningService) -> None:
    result = run_cli(["images"], service, password="not-the-password")  # noqa: S106

    assert result.returncode == 1
    assert "Invalid account name or password" in result.stderr


def test_unreachable_ms_exits_1(service: RunningService) -> None:
    environment_service = RunningService(
        url="http://127.0.0.1:1",
        registry_host_port=service.registry_host_port,
        data_dir=service.data_dir,
        log_path=service.log_path,
        process=service.process,
        admin_password=service.admin_password,
    )

    result = run_cli(["images"], environment_service)

    assert result.returncode == 1
    assert "Could not reach the MS" in result.stderr


def test_user_add_while_running(service: RunningService) -> None:
    result = run_cli(
        ["user", "add", "cli-added", "--password-stdin", "--data-dir", str(service.data_dir)],
        stdin="a-good-password\n",
    )
    login = ApiSession(service.url).login("cli-added", "a-good-password")

    assert result.returncode == 0, result.stderr
    assert login.status_code == 200
    assert login.json()["role"] == "user"


def test_user_add_admin_role(tmp_path: Path) -> None:
    result = run_cli(
        ["user", "add", "boss", "--admin", "--password-stdin", "--data-dir", str(tmp_path)],
        stdin="a-good-password\n",
    )

    assert result.returncode == 0, result.stderr
    assert "role 'admin'" in result.stdout


def test_user_add_duplicate_exits_1(tmp_path: Path) -> None:
    arguments = ["user", "add", "twice", "--password-stdin", "--data-dir", str(tmp_path)]

    first = run_cli(arguments, stdin="a-good-password\n")
    second = run_cli(arguments, stdin="a-good-password\n")

    assert first.returncode == 0
    assert second.returncode == 1
    assert "already exists" in second.stderr


@pytest.mark.parametrize(
    ("name", "password", "message"),
    [("Bad Name", "a-good-password", "Invalid account name"), ("shorty", "short", "at least 8")],
)
def test_user_add_invalid(tmp_path: Path, name: str, password: str, message: str) -> None:
    result = run_cli(
        ["user", "add", name, "--password-stdin", "--data-dir", str(tmp_path)],
        stdin=password + "\n",
    )

    assert result.returncode == 1
    assert message in result.stderr


def test_serve_busy_port_exits_1(service: RunningService, tmp_path: Path) -> None:
    port = service.url.rsplit(":", 1)[1]

    result = run_cli(["serve", "--data-dir", str(tmp_path), "--port", port])

    assert result.returncode == 1
    assert "--port" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_lists_commands() -> None:
    result = run_cli(["--help"])

    for command in ("images", "tags", "status", "rm", "serve", "user"):
        assert command in result.stdout


@pytest.mark.parametrize("ms_url", ["ftp://127.0.0.1", ""])
def test_bad_ms_url_is_usage_error(service: RunningService, ms_url: str) -> None:
    result = run_cli(["images", "--ms-url", ms_url], service)

    assert result.returncode == 2
    assert "--ms-url" in result.stderr
    assert "Traceback" not in result.stderr


def test_rm_digest_is_usage_error(service: RunningService) -> None:
    result = run_cli(["rm", "tests/app@sha256:" + "a" * 64], service)

    assert result.returncode == 2
    assert "names a digest" in result.stderr


def test_status_batches_long_lists(service: RunningService, tmp_path: Path) -> None:
    listing = tmp_path / "many.txt"
    listing.write_text("".join(f"Invalid-{number}\n" for number in range(1200)))

    result = run_cli(["status", "--json", "--file", str(listing)], service)

    assert result.returncode == 1
    entries = json.loads(result.stdout)["images"]
    assert len(entries) == 1200
    assert {entry["status"] for entry in entries} == {"invalid"}


def test_password_from_stdin(service: RunningService, pushed: str) -> None:
    environment_password = ""
    result = run_cli(
        ["tags", "--password-stdin", pushed],
        service,
        stdin=service.admin_password + "\n",
        password=environment_password,
    )

    assert result.returncode == 0, result.stderr
    assert "v1" in result.stdout


def test_rm_json_error_fields(service: RunningService, pushed: str) -> None:
    result = run_cli(["rm", "--json", f"{pushed}:nope"], service)

    [entry] = json.loads(result.stdout)["deleted"]
    assert entry["errorCode"] == "TAG_NOT_FOUND"
    assert entry["status"] == 404


def test_table_lines_have_no_trailing_spaces(service: RunningService, pushed: str) -> None:
    result = run_cli(["tags", pushed], service)

    assert all(line == line.rstrip() for line in result.stdout.splitlines())


def test_user_add_notes_new_state(tmp_path: Path) -> None:
    result = run_cli(
        ["user", "add", "first", "--password-stdin", "--data-dir", str(tmp_path / "fresh")],
        stdin="a-good-password\n",
    )

    assert result.returncode == 0
    assert "no state database" in result.stderr
