"""The key registry tokens are signed with (ES256), its key id and JWKS.

Development generates a P-256 key and a self-signed certificate on first use
under ``REGISTRY_TOKEN_DIR``; production reads ``REGISTRY_TOKEN_KEY_FILE`` and
``REGISTRY_TOKEN_CERT_FILE`` and refuses to start without them
(system_checks.py). The registry trusts the certificate (its ``auth.token.
rootcertbundle``) or the published JWKS.

The key id is distribution's (libtrust's): the SHA-256 of the DER
SubjectPublicKeyInfo, its first 240 bits in base32 without padding, in 12
groups of 4 joined by ``:``.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from apps.core.dev_keys import dev_key_pair

DEV_KEY_NAME = "registry-token-key.pem"
DEV_CERT_NAME = "registry-token-cert.pem"
DEV_VALIDITY = timedelta(days=365)
DEV_RENEW_BEFORE = timedelta(days=30)


@dataclass(frozen=True)
class TokenKey:
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    kid: str

    @property
    def x5c(self) -> list[str]:
        der = self.certificate.public_bytes(serialization.Encoding.DER)
        return [base64.b64encode(der).decode("ascii")]


def libtrust_key_id(public_key) -> str:
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode("ascii")
    encoded = encoded.rstrip("=")
    return ":".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))


def _dev_certificate(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    now = timezone.now()
    name = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, "Portal registry tokens (dev)")]
    )
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + DEV_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        .sign(key, hashes.SHA256())
    )


def _dev_key_files() -> tuple[bytes, bytes]:
    key_pem, cert_pem, _ = dev_key_pair(
        directory=Path(settings.REGISTRY_TOKEN_DIR),
        key_name=DEV_KEY_NAME,
        cert_name=DEV_CERT_NAME,
        certificate=_dev_certificate,
        renew_before=DEV_RENEW_BEFORE,
    )
    return key_pem, cert_pem


def _configured_key_files() -> tuple[bytes, bytes]:
    key_file = settings.REGISTRY_TOKEN_KEY_FILE
    cert_file = settings.REGISTRY_TOKEN_CERT_FILE
    if not key_file or not cert_file:
        raise ImproperlyConfigured(
            "Set both REGISTRY_TOKEN_KEY_FILE and REGISTRY_TOKEN_CERT_FILE."
        )
    try:
        return Path(key_file).read_bytes(), Path(cert_file).read_bytes()
    except OSError as exc:
        raise ImproperlyConfigured(
            f"The registry token key or certificate cannot be read: {exc}"
        ) from exc


def key_load(key_pem: bytes, cert_pem: bytes) -> TokenKey:
    """Check that the key is a P-256 key and the certificate its own."""
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as exc:
        raise ImproperlyConfigured(f"Not a PEM key and certificate: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(
        key.curve, ec.SECP256R1
    ):
        raise ImproperlyConfigured("Registry tokens are ES256: a P-256 key is needed.")
    if cert.public_key() != key.public_key():
        raise ImproperlyConfigured("The certificate is not the key's.")
    return TokenKey(key=key, certificate=cert, kid=libtrust_key_id(key.public_key()))


@lru_cache(maxsize=1)
def _cached(key_file: str, cert_file: str, directory: str) -> TokenKey:
    if key_file or cert_file:
        return key_load(*_configured_key_files())
    if settings.DEV_MODE:
        return key_load(*_dev_key_files())
    raise ImproperlyConfigured(
        "Production signs registry tokens only with a configured key: set "
        "REGISTRY_TOKEN_KEY_FILE and REGISTRY_TOKEN_CERT_FILE."
    )


def token_key() -> TokenKey:
    """The signing key now (read once per process and per configuration)."""
    return _cached(
        settings.REGISTRY_TOKEN_KEY_FILE,
        settings.REGISTRY_TOKEN_CERT_FILE,
        str(settings.REGISTRY_TOKEN_DIR),
    )


def jwks() -> dict:
    """The public key as a JSON Web Key Set, with its certificate."""
    material = token_key()
    numbers = material.key.public_key().public_numbers()

    def b64(n: int) -> str:
        raw = n.to_bytes(32, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    return {
        "keys": [
            {
                "kty": "EC",
                "crv": "P-256",
                "x": b64(numbers.x),
                "y": b64(numbers.y),
                "kid": material.kid,
                "use": "sig",
                "alg": "ES256",
                "x5c": material.x5c,
            }
        ]
    }
