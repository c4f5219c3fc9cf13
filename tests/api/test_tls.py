"""HTTPS for the API and the embedded registry with one certificate, as clients verify it."""

from __future__ import annotations

import datetime
import ipaddress
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from nerve_lib import InternalRegistry, MSHandle
from tests.support import oci
from tests.support.service import RunningService, running_service


def write_certificate(directory: Path, name: str = "server") -> tuple[Path, Path]:
    """Write a self-signed certificate for 127.0.0.1 and localhost, and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )

    directory.mkdir(parents=True, exist_ok=True)
    cert_path = directory / f"{name}.crt"
    key_path = directory / f"{name}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def tls_service(
    tmp_path_factory: pytest.TempPathFactory, certificate: tuple[Path, Path]
) -> Iterator[RunningService]:
    cert_path, key_path = certificate
    with running_service(
        tmp_path_factory.mktemp("tls-service") / "service",
        extra_args=["--tls-cert", str(cert_path), "--tls-key", str(key_path), "--registry-tls"],
        ca_cert=cert_path,
    ) as service:
        yield service


def test_api_over_https_with_default_scheme(tls_service: RunningService) -> None:
    host_port = tls_service.url.removeprefix("https://")

    with MSHandle(
        host_port, "admin", tls_service.admin_password, verify=str(tls_service.ca_cert)
    ) as handle:
        page = InternalRegistry(handle).get_registry_images()

    assert handle.url.startswith("https://")
    assert page == {"images": [], "next": None}


def test_plain_http_refused(tls_service: RunningService) -> None:
    plain = tls_service.url.replace("https://", "http://")

    with pytest.raises(requests.ConnectionError):
        requests.get(f"{plain}/health", timeout=5)


def test_realm_is_https(tls_service: RunningService) -> None:
    response = requests.get(
        f"{tls_service.registry_url}/v2/", verify=tls_service.verify, timeout=10
    )

    assert response.status_code == 401
    assert f'realm="{tls_service.url}/auth/token"' in response.headers["WWW-Authenticate"]


def test_registry_config_has_tls(
    tls_service: RunningService, certificate: tuple[Path, Path]
) -> None:
    config = yaml.safe_load((tls_service.data_dir / "registry" / "config.yml").read_text())

    assert config["http"]["tls"]["certificate"] == str(certificate[0])
    assert config["http"]["tls"]["minimumtls"] == "tls1.2"


def test_skopeo_push_verified(
    tls_service: RunningService, certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    layout = tmp_path / "layout"
    oci.write_image(layout, "v1", seed="tls")
    cert_dir = tmp_path / "certs"
    cert_dir.mkdir()
    (cert_dir / "ca.crt").write_bytes(certificate[0].read_bytes())

    pushed = subprocess.run(
        [
            "skopeo",
            "copy",
            f"--dest-cert-dir={cert_dir}",
            f"--dest-creds=admin:{tls_service.admin_password}",
            f"oci:{layout}:v1",
            f"docker://{tls_service.registry_host_port}/team/tls:v1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, HOME=str(tmp_path)),
        check=False,
    )
    listed = tls_service.api().registry_call("images", {})

    assert pushed.returncode == 0, pushed.stderr
    assert [image["name"] for image in listed.json()["images"]] == ["team/tls"]


def test_skopeo_rejects_unknown_certificate(tls_service: RunningService, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            "skopeo",
            "inspect",
            "--raw",
            f"--creds=admin:{tls_service.admin_password}",
            f"docker://{tls_service.registry_host_port}/team/tls:v1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, HOME=str(tmp_path)),
        check=False,
    )

    assert result.returncode != 0
    assert "certificate" in result.stderr


def _serve(tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nerve_registry", "serve", "--data-dir", str(tmp_path), *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_serve_needs_key_with_cert(tmp_path: Path, certificate: tuple[Path, Path]) -> None:
    result = _serve(tmp_path / "data", "--tls-cert", str(certificate[0]))

    assert result.returncode == 2
    assert "--tls-key" in result.stderr


def test_serve_rejects_mismatched_key(tmp_path: Path, certificate: tuple[Path, Path]) -> None:
    _, other_key = write_certificate(tmp_path / "other", "other")

    result = _serve(
        tmp_path / "data", "--tls-cert", str(certificate[0]), "--tls-key", str(other_key)
    )

    assert result.returncode == 1
    assert "Cannot use the certificate" in result.stderr


def test_serve_registry_tls_needs_cert(tmp_path: Path) -> None:
    result = _serve(tmp_path / "data", "--registry-tls")

    assert result.returncode == 2


def test_serve_rejects_bad_public_url(tmp_path: Path) -> None:
    result = _serve(tmp_path / "data", "--public-url", "ftp://ms.example")

    assert result.returncode == 2
    assert "--public-url" in result.stderr
