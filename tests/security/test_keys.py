"""Signing key and certificate files: creation, reloading, repair and the libtrust key ID."""

from __future__ import annotations

import datetime
import re
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from nerve_registry.errors import NerveRegistryError
from nerve_registry.security import libtrust_key_id, load_or_create_signing_key
from nerve_registry.security.keys import (
    CERT_COMMON_NAME,
    CERT_FILE_NAME,
    KEY_FILE_NAME,
)

# Private scalar 1 makes the public key the P-256 generator point. The real
# docker-registry 2.8.2 accepts a token with this kid when the key's certificate
# is in its rootcertbundle (test_registry_token_auth.py checks that).
GENERATOR_KEY_ID = "LTJF:F6YM:5CJS:INX2:7DGN:CBAJ:QG4J:5ZFN:NOP6:TYVC:W7TR:VLFS"

_KEY_ID_PATTERN = re.compile(r"[A-Z2-7]{4}(?::[A-Z2-7]{4}){11}")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _write_certificate(
    path: Path, private_key: ec.EllipticCurvePrivateKey, validity: datetime.timedelta
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + validity)
        .sign(private_key, hashes.SHA256())
    )
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return certificate


def test_key_id_of_generator_key() -> None:
    private_key = ec.derive_private_key(1, ec.SECP256R1())

    assert libtrust_key_id(private_key.public_key()) == GENERATOR_KEY_ID


def test_key_id_format(tmp_path: Path) -> None:
    signing_key = load_or_create_signing_key(tmp_path)

    assert _KEY_ID_PATTERN.fullmatch(signing_key.key_id)


def test_key_id_matches_certificate(tmp_path: Path) -> None:
    signing_key = load_or_create_signing_key(tmp_path)

    assert libtrust_key_id(signing_key.certificate.public_key()) == signing_key.key_id


def test_create_key_file_mode(tmp_path: Path) -> None:
    load_or_create_signing_key(tmp_path)

    assert _mode(tmp_path / KEY_FILE_NAME) == 0o600


def test_create_cert_file_mode(tmp_path: Path) -> None:
    load_or_create_signing_key(tmp_path)

    assert _mode(tmp_path / CERT_FILE_NAME) == 0o644


def test_create_missing_directory(tmp_path: Path) -> None:
    directory = tmp_path / "data" / "keys"

    load_or_create_signing_key(directory)

    assert _mode(directory) == 0o700


def test_create_leaves_no_temporary_files(tmp_path: Path) -> None:
    load_or_create_signing_key(tmp_path)

    assert sorted(path.name for path in tmp_path.iterdir()) == [CERT_FILE_NAME, KEY_FILE_NAME]


def test_cert_path_points_to_cert_file(tmp_path: Path) -> None:
    signing_key = load_or_create_signing_key(tmp_path)

    assert signing_key.cert_path == tmp_path / CERT_FILE_NAME


def test_private_key_is_p256(tmp_path: Path) -> None:
    signing_key = load_or_create_signing_key(tmp_path)

    assert isinstance(signing_key.private_key.curve, ec.SECP256R1)


def test_cert_subject(tmp_path: Path) -> None:
    certificate = load_or_create_signing_key(tmp_path).certificate

    common_names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert [attribute.value for attribute in common_names] == [CERT_COMMON_NAME]


def test_cert_validity_ten_years(tmp_path: Path) -> None:
    certificate = load_or_create_signing_key(tmp_path).certificate

    validity = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert validity == datetime.timedelta(days=3650)


def test_cert_self_signed(tmp_path: Path) -> None:
    certificate = load_or_create_signing_key(tmp_path).certificate

    certificate.verify_directly_issued_by(certificate)
    assert certificate.issuer == certificate.subject


def test_reload_keeps_key(tmp_path: Path) -> None:
    first = load_or_create_signing_key(tmp_path)

    second = load_or_create_signing_key(tmp_path)

    assert second.key_id == first.key_id
    assert second.certificate.serial_number == first.certificate.serial_number


def test_missing_cert_recreated_for_same_key(tmp_path: Path) -> None:
    first = load_or_create_signing_key(tmp_path)
    (tmp_path / CERT_FILE_NAME).unlink()

    second = load_or_create_signing_key(tmp_path)

    assert second.key_id == first.key_id
    assert (tmp_path / CERT_FILE_NAME).exists()


def test_unparsable_cert_replaced(tmp_path: Path) -> None:
    first = load_or_create_signing_key(tmp_path)
    (tmp_path / CERT_FILE_NAME).write_text("not a certificate")

    second = load_or_create_signing_key(tmp_path)

    assert second.key_id == first.key_id
    assert libtrust_key_id(second.certificate.public_key()) == first.key_id


def test_cert_of_other_key_replaced(tmp_path: Path) -> None:
    first = load_or_create_signing_key(tmp_path)
    other_key = ec.generate_private_key(ec.SECP256R1())
    _write_certificate(tmp_path / CERT_FILE_NAME, other_key, datetime.timedelta(days=3650))

    second = load_or_create_signing_key(tmp_path)

    assert libtrust_key_id(second.certificate.public_key()) == first.key_id


def test_expiring_cert_renewed(tmp_path: Path) -> None:
    first = load_or_create_signing_key(tmp_path)
    expiring = _write_certificate(
        tmp_path / CERT_FILE_NAME, first.private_key, datetime.timedelta(days=2)
    )

    second = load_or_create_signing_key(tmp_path)

    assert second.certificate.serial_number != expiring.serial_number
    assert second.key_id == first.key_id


def test_loose_key_mode_tightened(tmp_path: Path) -> None:
    load_or_create_signing_key(tmp_path)
    (tmp_path / KEY_FILE_NAME).chmod(0o644)

    load_or_create_signing_key(tmp_path)

    assert _mode(tmp_path / KEY_FILE_NAME) == 0o600


def test_garbage_key_file_rejected(tmp_path: Path) -> None:
    key_path = tmp_path / KEY_FILE_NAME
    key_path.write_text("not a key")
    key_path.chmod(0o600)

    with pytest.raises(NerveRegistryError) as caught:
        load_or_create_signing_key(tmp_path)

    assert caught.value.error_code == "SIGNING_KEY_INVALID"
    assert str(key_path) in caught.value.message


def test_p384_key_file_rejected(tmp_path: Path) -> None:
    key_path = tmp_path / KEY_FILE_NAME
    p384_key = ec.generate_private_key(ec.SECP384R1())
    key_path.write_bytes(
        p384_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)

    with pytest.raises(NerveRegistryError) as caught:
        load_or_create_signing_key(tmp_path)

    assert caught.value.error_code == "SIGNING_KEY_INVALID"
    assert "P-256" in caught.value.message
