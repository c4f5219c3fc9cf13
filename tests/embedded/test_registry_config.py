"""The generated docker-registry configuration file."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import yaml

from nerve_registry.config import Settings
from nerve_registry.embedded.registry_config import (
    build_registry_config,
    load_or_create_http_secret,
    write_registry_config,
)


def _settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", registry_port=5123)


def _written(settings: Settings, **options: Any) -> dict[str, Any]:
    path = write_registry_config(settings, **options)
    config: dict[str, Any] = yaml.safe_load(path.read_text())
    return config


def test_config_has_no_cache_section(tmp_path: Path) -> None:
    config = _written(_settings(tmp_path))

    assert "cache" not in config["storage"]


def test_config_explains_missing_cache(tmp_path: Path) -> None:
    path = write_registry_config(_settings(tmp_path))

    assert "There is no storage.cache section on purpose" in path.read_text()


def test_config_enables_delete(tmp_path: Path) -> None:
    config = _written(_settings(tmp_path))

    assert config["storage"]["delete"] == {"enabled": True}


def test_config_version(tmp_path: Path) -> None:
    config = _written(_settings(tmp_path))

    assert config["version"] == 0.1


def test_config_listens_on_loopback(tmp_path: Path) -> None:
    config = _written(_settings(tmp_path))

    assert config["http"]["addr"] == "127.0.0.1:5123"


def test_config_storage_under_registry_dir(tmp_path: Path) -> None:
    settings = _settings(tmp_path)

    config = _written(settings)

    assert config["storage"]["filesystem"]["rootdirectory"] == str(
        settings.registry_dir / "storage"
    )


def test_config_path_in_registry_dir(tmp_path: Path) -> None:
    settings = _settings(tmp_path)

    path = write_registry_config(settings)

    assert path == settings.registry_dir / "config.yml"


def test_config_file_mode_0600(tmp_path: Path) -> None:
    path = write_registry_config(_settings(tmp_path))

    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_config_rewrite_leaves_no_temporary_files(tmp_path: Path) -> None:
    settings = _settings(tmp_path)

    write_registry_config(settings)
    write_registry_config(settings, read_only=True)

    assert sorted(path.name for path in settings.registry_dir.iterdir()) == [
        "config.yml",
        "http-secret",
    ]


def test_config_read_only_off_by_default(tmp_path: Path) -> None:
    config = _written(_settings(tmp_path))

    assert config["storage"]["maintenance"]["readonly"] == {"enabled": False}


def test_config_read_only_switch(tmp_path: Path) -> None:
    config = _written(_settings(tmp_path), read_only=True)

    assert config["storage"]["maintenance"]["readonly"] == {"enabled": True}


def test_config_purges_old_uploads(tmp_path: Path) -> None:
    config = _written(_settings(tmp_path))

    assert config["storage"]["maintenance"]["uploadpurging"]["enabled"] is True


def test_config_catalog_max_entries(tmp_path: Path) -> None:
    config = _written(_settings(tmp_path))

    assert config["catalog"] == {"maxentries": 1000}


def test_config_storage_health_check(tmp_path: Path) -> None:
    config = _written(_settings(tmp_path))

    assert config["health"]["storagedriver"]["enabled"] is True


def test_config_log_settings(tmp_path: Path) -> None:
    config = _written(_settings(tmp_path))

    assert config["log"] == {"level": "info", "formatter": "text"}


def test_config_without_auth_by_default(tmp_path: Path) -> None:
    config = build_registry_config(_settings(tmp_path))

    assert "auth" not in config


def test_config_auth_section_passed_through(tmp_path: Path) -> None:
    auth = {"token": {"realm": "http://127.0.0.1:8080/token", "service": "registry"}}

    config = build_registry_config(_settings(tmp_path), auth=auth)

    assert config["auth"] == auth


def test_http_secret_kept_across_writes(tmp_path: Path) -> None:
    settings = _settings(tmp_path)

    first = _written(settings)["http"]["secret"]
    second = _written(settings, read_only=True)["http"]["secret"]

    assert first == second


def test_http_secret_file_mode_0600(tmp_path: Path) -> None:
    load_or_create_http_secret(tmp_path)

    assert stat.S_IMODE((tmp_path / "http-secret").stat().st_mode) == 0o600


def test_http_secret_differs_per_directory(tmp_path: Path) -> None:
    first = load_or_create_http_secret(tmp_path / "one")
    second = load_or_create_http_secret(tmp_path / "two")

    assert first != second


def test_http_secret_empty_file_replaced(tmp_path: Path) -> None:
    (tmp_path / "http-secret").write_text("\n")

    secret = load_or_create_http_secret(tmp_path)

    assert len(secret) >= 32


def test_config_listens_on_registry_host(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    settings.registry_host = "0.0.0.0"  # noqa: S104 - written to a file, not bound

    config = _written(settings)

    assert config["http"]["addr"] == "0.0.0.0:5123"
    assert settings.embedded_registry_url == "http://127.0.0.1:5123"


def test_config_token_auth_section(tmp_path: Path) -> None:
    auth = {"token": {"realm": "http://127.0.0.1:1/auth/token", "service": "s", "issuer": "i"}}

    config = _written(_settings(tmp_path), auth=auth)

    assert config["auth"] == auth


def test_config_tls_section(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    settings.tls_cert = tmp_path / "server.crt"
    settings.tls_key = tmp_path / "server.key"
    settings.registry_tls = True

    config = _written(settings)

    assert config["http"]["tls"] == {
        "certificate": str(tmp_path / "server.crt"),
        "key": str(tmp_path / "server.key"),
        "minimumtls": "tls1.2",
    }
    assert settings.embedded_registry_url == "https://127.0.0.1:5123"


def test_config_without_tls_by_default(tmp_path: Path) -> None:
    config = _written(_settings(tmp_path))

    assert "tls" not in config["http"]
