"""The key that signs registry bearer tokens, and the certificate the registry trusts it by.

The key is an EC P-256 private key, so tokens are signed with ES256. The
certificate is self-signed and serves only as the container of the public key
in the registry's ``rootcertbundle``. CNCF Distribution 2.8 does not check its
validity dates when a token names the key by ``kid``.

Both files live in one directory that the caller chooses (the service uses
``DATA_DIR/keys``): ``token-signing-key.pem`` (PKCS#8 PEM, mode 0600) and
``token-signing-cert.pem`` (PEM, mode 0644).
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import logging
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509.oid import NameOID

from nerve_registry.errors import NerveRegistryError

logger = logging.getLogger(__name__)

KEY_FILE_NAME = "token-signing-key.pem"
CERT_FILE_NAME = "token-signing-cert.pem"
CERT_COMMON_NAME = "nerve-registry token signer"
CERT_VALIDITY = datetime.timedelta(days=3650)

KEY_FILE_MODE = 0o600
CERT_FILE_MODE = 0o644
KEY_DIR_MODE = 0o700

# A certificate is renewed when it has less than this much validity left.
CERT_RENEWAL_MARGIN = datetime.timedelta(days=30)

# libtrust key IDs hash 30 bytes (240 bits) of the SHA-256 digest, which base32
# encodes to 48 characters, shown in 12 groups of 4.
_KEY_ID_DIGEST_BYTES = 30
_KEY_ID_GROUP_LENGTH = 4


SIGNING_KEY_INVALID = "SIGNING_KEY_INVALID"


@dataclass(frozen=True)
class SigningKey:
    """The token signing key, its certificate and the ``kid`` that names it in token headers."""

    private_key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    cert_path: Path
    key_id: str


def libtrust_key_id(public_key: PublicKeyTypes) -> str:
    """Compute the libtrust key ID of a public key.

    The ID is the SHA-256 digest of the DER SubjectPublicKeyInfo, cut to its
    first 30 bytes, base32 encoded (RFC 4648 alphabet, upper case, no padding)
    and split into groups of four characters joined by ``:``. CNCF Distribution
    2.8 computes this ID for every certificate in its ``rootcertbundle`` and
    looks up the ``kid`` of a token header among them (libtrust
    ``keyIDFromCryptoKey``).

    NOTE: the Distribution 3 source matches ``kid`` against RFC 7638 JWK
    thumbprints instead, so tokens need another ``kid`` after such an upgrade.
    """
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hashlib.sha256(der).digest()[:_KEY_ID_DIGEST_BYTES]
    encoded = base64.b32encode(digest).decode("ascii").rstrip("=")

    groups = [
        encoded[start : start + _KEY_ID_GROUP_LENGTH]
        for start in range(0, len(encoded), _KEY_ID_GROUP_LENGTH)
    ]
    return ":".join(groups)


def load_or_create_signing_key(directory: Path) -> SigningKey:
    """Load the signing key and certificate from ``directory``, creating what is missing.

    A missing directory is created with mode 0700. A missing key is generated.
    A certificate that is missing, belongs to another key or expires within
    ``CERT_RENEWAL_MARGIN`` is replaced by a new one for the same key, so the
    ``kid`` of tokens stays the same. The registry reads its ``rootcertbundle``
    only at start, so it needs a restart after a new key (not after a renewed
    certificate, because it matches keys, not certificates).

    Raises NerveRegistryError with the code SIGNING_KEY_INVALID when the key
    file cannot be parsed or is not an EC P-256 private key.
    """
    directory.mkdir(mode=KEY_DIR_MODE, parents=True, exist_ok=True)
    key_path = directory / KEY_FILE_NAME
    cert_path = directory / CERT_FILE_NAME

    private_key = _load_or_create_private_key(key_path)
    certificate = _load_or_create_certificate(cert_path, private_key)

    return SigningKey(
        private_key=private_key,
        certificate=certificate,
        cert_path=cert_path,
        key_id=libtrust_key_id(private_key.public_key()),
    )


def _load_or_create_private_key(key_path: Path) -> ec.EllipticCurvePrivateKey:
    if not key_path.exists():
        _create_private_key(key_path)

    _restrict_key_file_mode(key_path)
    return _read_private_key(key_path)


def _create_private_key(key_path: Path) -> None:
    """Write a new P-256 key unless another process wrote one first.

    The key goes to a temporary file with mode 0600 and is then hard-linked to
    its final name, which fails if the name exists. Of two processes that start
    at once, one key wins and both load it.
    """
    private_key = ec.generate_private_key(ec.SECP256R1())
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )

    temporary_path = key_path.with_name(f".{key_path.name}.{secrets.token_hex(8)}.tmp")
    _write_file(temporary_path, pem, KEY_FILE_MODE)
    try:
        os.link(temporary_path, key_path)
    except FileExistsError:
        logger.info("Token signing key %s was created by another process, using it", key_path)
    else:
        logger.info(
            "Created token signing key %s with key ID %s",
            key_path,
            libtrust_key_id(private_key.public_key()),
        )
    finally:
        temporary_path.unlink()


def _restrict_key_file_mode(key_path: Path) -> None:
    mode = stat.S_IMODE(key_path.stat().st_mode)
    if mode & ~KEY_FILE_MODE:
        logger.warning(
            "Token signing key %s had mode %03o, setting it to %03o",
            key_path,
            mode,
            KEY_FILE_MODE,
        )
        key_path.chmod(KEY_FILE_MODE)


def _read_private_key(key_path: Path) -> ec.EllipticCurvePrivateKey:
    try:
        private_key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (ValueError, TypeError) as error:
        raise NerveRegistryError(
            f"Token signing key {key_path} is not an unencrypted PEM private key ({error}). "
            "Remove the file to generate a new key, then restart the registry.",
            error_code=SIGNING_KEY_INVALID,
        ) from error

    if not isinstance(private_key, ec.EllipticCurvePrivateKey) or not isinstance(
        private_key.curve, ec.SECP256R1
    ):
        raise NerveRegistryError(
            f"Token signing key {key_path} is not an EC P-256 key, which ES256 requires. "
            "Remove the file to generate a new key, then restart the registry.",
            error_code=SIGNING_KEY_INVALID,
        )

    return private_key


def _load_or_create_certificate(
    cert_path: Path, private_key: ec.EllipticCurvePrivateKey
) -> x509.Certificate:
    certificate = _read_certificate(cert_path)
    reason = _certificate_replacement_reason(certificate, private_key)
    if reason is None and certificate is not None:
        return certificate

    if certificate is not None:
        logger.warning("Replacing token signing certificate %s: %s", cert_path, reason)

    certificate = _create_certificate(private_key)
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    temporary_path = cert_path.with_name(f".{cert_path.name}.{secrets.token_hex(8)}.tmp")
    _write_file(temporary_path, pem, CERT_FILE_MODE)
    temporary_path.replace(cert_path)

    logger.info(
        "Wrote token signing certificate %s, valid until %s",
        cert_path,
        certificate.not_valid_after_utc.isoformat(),
    )
    return certificate


def _read_certificate(cert_path: Path) -> x509.Certificate | None:
    """Return the certificate in ``cert_path``, or None if it is missing or unreadable."""
    try:
        pem = cert_path.read_bytes()
    except FileNotFoundError:
        return None

    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError as error:
        logger.warning("Token signing certificate %s cannot be parsed: %s", cert_path, error)
        return None


def _certificate_replacement_reason(
    certificate: x509.Certificate | None, private_key: ec.EllipticCurvePrivateKey
) -> str | None:
    """Return why ``certificate`` must be replaced, or None if it can stay."""
    if certificate is None:
        return "missing or unreadable"

    if certificate.public_key() != private_key.public_key():
        return "it belongs to another key"

    remaining = certificate.not_valid_after_utc - datetime.datetime.now(datetime.UTC)
    if remaining < CERT_RENEWAL_MARGIN:
        return f"it expires at {certificate.not_valid_after_utc.isoformat()}"

    return None


def _create_certificate(private_key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    """Build a self-signed certificate for ``private_key``, valid from now for CERT_VALIDITY."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CERT_COMMON_NAME)])
    public_key = private_key.public_key()
    not_before = datetime.datetime.now(datetime.UTC).replace(microsecond=0)

    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + CERT_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    return builder.sign(private_key, hashes.SHA256())


def _write_file(path: Path, content: bytes, mode: int) -> None:
    """Create ``path`` (it must not exist) with ``mode`` regardless of the umask, and fsync it."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        raise
