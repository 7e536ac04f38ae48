"""Public keys that sign evidence: read from PEM, named, and used to check a
signature.

Pure: text in, a ``PublicKey`` (or a refusal saying what is wrong) out. The
kinds taken are the ones publishers sign attestations with: ECDSA P-256
(cosign's default, npm's and Docker's keys), Ed25519 and RSA of 2048 bits or
more. A private key is refused outright: it must never be pasted into a
portal, and saying so is kinder than calling it "not a public key".
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from django.core.exceptions import ValidationError

# A PEM public key is a few hundred bytes (RSA-8192: about 1.4 KB).
PEM_MAX_CHARS = 16_384
# DER signatures: ECDSA P-256 about 72 bytes, RSA-8192 1 KB.
SIGNATURE_MAX_BYTES = 2048
RSA_MIN_BITS = 2048
RSA_MAX_BITS = 8192

ECDSA_P256 = "ecdsa-p256"
ED25519 = "ed25519"
RSA = "rsa"

ALGORITHM_LABELS = {
    ECDSA_P256: "ECDSA P-256",
    ED25519: "Ed25519",
    RSA: "RSA",
}

Key = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey


@dataclass(frozen=True)
class PublicKey:
    """A public key as read from its PEM, with the names signatures know it by."""

    key: Key
    algorithm: str  # ECDSA_P256, ED25519 or RSA
    bits: int
    pem: str  # normalised SubjectPublicKeyInfo PEM
    fingerprint: str  # SHA-256 of the DER SubjectPublicKeyInfo, hex

    @property
    def label(self) -> str:
        name = ALGORITHM_LABELS.get(self.algorithm, self.algorithm.upper())
        return f"{name} {self.bits}" if self.algorithm == RSA else name

    def hints(self) -> frozenset[str]:
        """The ways documents name this key: the SHA-256 of its DER
        SubjectPublicKeyInfo in hex, in base64 (Sigstore bundles'
        ``publicKey.hint``) and as ``SHA256:<unpadded base64>`` (npm's key ids)."""
        raw = bytes.fromhex(self.fingerprint)
        b64 = base64.b64encode(raw).decode()
        return frozenset(
            {
                self.fingerprint,
                "sha256:" + self.fingerprint,
                b64,
                b64.rstrip("="),
                "SHA256:" + b64.rstrip("="),
                base64.urlsafe_b64encode(raw).decode().rstrip("="),
            }
        )


def _refuse(message: str, code: str) -> ValidationError:
    return ValidationError(message, code=code)


def public_key_load(text: str | bytes) -> PublicKey:
    """Read one PEM public key; refuse anything else, saying what it is."""
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            raise _refuse(
                "The key is not PEM text: it has bytes outside ASCII.", "not_pem"
            ) from None
    if len(text) > PEM_MAX_CHARS:
        raise _refuse(
            f"The key is {len(text)} characters; a PEM public key is at most "
            f"{PEM_MAX_CHARS}.",
            "too_long",
        )
    stripped = text.strip()
    if "PRIVATE KEY-----" in stripped:
        raise _refuse(
            "This is a private key. Register the public key only (for example "
            "`openssl pkey -in key.pem -pubout` or `cosign public-key`), and treat "
            "this private key as exposed.",
            "private_key",
        )
    if "-----BEGIN CERTIFICATE-----" in stripped:
        raise _refuse(
            "This is a certificate, not a public key. Register the key it holds "
            "(`openssl x509 -in cert.pem -pubkey -noout`), or register the signer "
            "as a keyless identity.",
            "certificate",
        )
    if not stripped.startswith("-----BEGIN ") or stripped.count("-----BEGIN ") != 1:
        raise _refuse(
            'Not a PEM public key: expected one "-----BEGIN PUBLIC KEY-----" block.',
            "not_pem",
        )
    try:
        key = serialization.load_pem_public_key(stripped.encode("ascii"))
    except UnsupportedAlgorithm:
        raise _refuse(
            "The key's type is not one this portal checks signatures with "
            "(ECDSA P-256, Ed25519, RSA).",
            "unknown_key_type",
        ) from None
    except ValueError:
        raise _refuse(
            "Not a PEM public key: the block does not decode to a public key.",
            "not_pem",
        ) from None
    return public_key_from(key)


# Fulcio certifies P-256 and P-384 keys (CPython's release managers sign with
# P-384); a registered key is P-256.
CERTIFICATE_CURVES = (ec.SECP256R1, ec.SECP384R1)
_CURVE_HASHES = {256: hashes.SHA256, 384: hashes.SHA384}


def public_key_from(
    key: object, *, curves: tuple[type[ec.EllipticCurve], ...] = (ec.SECP256R1,)
) -> PublicKey:
    """A loaded ``cryptography`` public key, checked for a kind this portal takes."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, curves):
            raise _refuse(
                f"An ECDSA key on {key.curve.name}: this portal checks ECDSA "
                "signatures on P-256 (secp256r1) only.",
                "unknown_key_type",
            )
        algorithm, bits = ECDSA_P256, key.curve.key_size
        if bits != 256:
            algorithm = f"ecdsa-p{bits}"
    elif isinstance(key, ed25519.Ed25519PublicKey):
        algorithm, bits = ED25519, 256
    elif isinstance(key, rsa.RSAPublicKey):
        bits = key.key_size
        if not RSA_MIN_BITS <= bits <= RSA_MAX_BITS:
            raise _refuse(
                f"An RSA key of {bits} bits: keys from {RSA_MIN_BITS} to "
                f"{RSA_MAX_BITS} bits are taken.",
                "weak_key",
            )
        algorithm = RSA
    else:
        raise _refuse(
            f"A {type(key).__name__.removeprefix('_')}: this portal checks "
            "signatures by ECDSA P-256, Ed25519 and RSA keys only.",
            "unknown_key_type",
        )
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")
    return PublicKey(
        key=key,  # type: ignore[arg-type]
        algorithm=algorithm,
        bits=bits,
        pem=pem,
        fingerprint=hashlib.sha256(der).hexdigest(),
    )


def signature_valid(key: PublicKey, signature: bytes, data: bytes) -> bool:
    """Whether ``signature`` is ``key``'s signature over ``data``: ECDSA with
    SHA-256 (SHA-384 on P-384; DER), Ed25519, or RSA with SHA-256 in PKCS#1
    v1.5 (cosign) or PSS (securesystemslib, in-toto)."""
    if not signature or len(signature) > SIGNATURE_MAX_BYTES:
        return False
    k = key.key
    try:
        if isinstance(k, ec.EllipticCurvePublicKey):
            k.verify(signature, data, ec.ECDSA(_CURVE_HASHES[k.curve.key_size]()))
        elif isinstance(k, ed25519.Ed25519PublicKey):
            k.verify(signature, data)
        else:
            return _rsa_valid(k, signature, data, hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


def sign(private_key: PrivateKeyTypes, data: bytes) -> bytes:
    """Sign ``data`` the way ``signature_valid`` checks it: ECDSA with SHA-256
    (SHA-384 on P-384, DER), Ed25519, or RSA PKCS#1 v1.5 with SHA-256. Every
    one is deterministic (ECDSA per RFC 6979): the same data signs to the same
    bytes, so a document made twice from the same inputs is the same file."""
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        algorithm = _CURVE_HASHES.get(private_key.curve.key_size)
        if algorithm is None:
            raise ValueError(
                f"No signing with an ECDSA key on {private_key.curve.name}."
            )
        return private_key.sign(data, ec.ECDSA(algorithm(), deterministic_signing=True))
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return private_key.sign(data)
    if isinstance(private_key, rsa.RSAPrivateKey):
        return private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    raise ValueError(f"No signing with a {type(private_key).__name__}.")


def signature_valid_prehashed(key: PublicKey, signature: bytes, digest: bytes) -> bool:
    """Whether ``signature`` is ``key``'s signature over a message whose SHA-256
    is ``digest`` (a Sigstore message signature). Ed25519 signs messages, not
    digests, so it cannot be checked from a digest alone."""
    if not signature or len(signature) > SIGNATURE_MAX_BYTES or len(digest) != 32:
        return False
    k = key.key
    prehashed = Prehashed(hashes.SHA256())
    try:
        if isinstance(k, ec.EllipticCurvePublicKey):
            k.verify(signature, digest, ec.ECDSA(prehashed))
        elif isinstance(k, rsa.RSAPublicKey):
            return _rsa_valid(k, signature, digest, prehashed)
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True


def _rsa_valid(
    k: rsa.RSAPublicKey,
    signature: bytes,
    data: bytes,
    algorithm: hashes.HashAlgorithm | Prehashed,
) -> bool:
    schemes = (
        padding.PKCS1v15(),
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO),
    )
    for scheme in schemes:
        try:
            k.verify(signature, data, scheme, algorithm)
        except (InvalidSignature, ValueError):
            continue
        return True
    return False
