"""Sigstore bundles (v0.1 to v0.3) and trusted roots, read.

A bundle carries a signature (over a DSSE envelope or over a file's digest),
what verifies it (a Fulcio certificate, or the hint of a public key the
verifier must already have) and the proofs of when it was made (a Rekor
transparency-log entry, RFC 3161 signed timestamps). Reading checks the shape
and bounds every part (entries, timestamps, certificates, sizes); whether any
of it holds is ``sigstore_verify``'s question.

Pure: parsed JSON in, a ``Bundle`` (or a refusal naming where) out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from django.core.exceptions import ValidationError
from sigstore.models import TrustedRoot

from .dsse import Envelope, b64decode, envelope_read

MEDIA_TYPES = {
    "application/vnd.dev.sigstore.bundle+json;version=0.1": "0.1",
    "application/vnd.dev.sigstore.bundle+json;version=0.2": "0.2",
    "application/vnd.dev.sigstore.bundle+json;version=0.3": "0.3",
    "application/vnd.dev.sigstore.bundle.v0.3+json": "0.3",
}
MEDIA_TYPE_PREFIX = "application/vnd.dev.sigstore.bundle"
LOG_ENTRIES_MAX = 4
TIMESTAMPS_MAX = 32
CERTIFICATES_MAX = 10
CERTIFICATE_MAX_BYTES = 16_384
TIMESTAMP_MAX_BYTES = 16_384
LOG_BODY_MAX_BYTES = 262_144


@dataclass(frozen=True)
class LogEntry:
    kind: str
    version: str
    log_index: int
    log_id: bytes
    integrated_time: int | None
    promise: bytes | None
    body: bytes
    has_checkpoint: bool


@dataclass(frozen=True)
class Bundle:
    """A Sigstore bundle as read, before anything is verified."""

    media_type: str
    version: str
    raw: dict[str, Any]
    certificate: x509.Certificate | None
    key_hint: str
    envelope: Envelope | None
    message_digest: bytes | None
    message_signature: bytes | None
    entries: tuple[LogEntry, ...]
    timestamps: tuple[bytes, ...]

    @property
    def signatures(self) -> list[bytes]:
        if self.envelope is not None:
            return [s.sig for s in self.envelope.signatures]
        return [self.message_signature] if self.message_signature else []


def trust_root_read(content: bytes) -> TrustedRoot:
    """A Sigstore trusted root (``application/vnd.dev.sigstore.trustedroot+json``)
    from its JSON. A root may hold only what it is for (a timestamp authority,
    no transparency log): absent lists are empty, as protobuf JSON omits them."""
    from sigstore_models.trustroot.v1 import TrustedRoot as TrustedRootMessage

    try:
        obj = json.loads(content)
    except ValueError:
        raise ValidationError(
            "The trust root is not JSON.", code="trust_root"
        ) from None
    if not isinstance(obj, dict):
        raise ValidationError("The trust root is not a JSON object.", code="trust_root")
    for key in ("tlogs", "certificateAuthorities", "ctlogs", "timestampAuthorities"):
        obj.setdefault(key, [])
    try:
        return TrustedRoot(TrustedRootMessage.from_json(json.dumps(obj)))
    except Exception as exc:
        raise ValidationError(
            f"Not a Sigstore trusted root: {str(exc).splitlines()[0][:200]}",
            code="trust_root",
        ) from None


def is_bundle(obj: Any) -> bool:
    media_type = obj.get("mediaType") if isinstance(obj, dict) else None
    return isinstance(media_type, str) and media_type.startswith(MEDIA_TYPE_PREFIX)


def _strip_nulls(obj: Any) -> Any:
    """Protobuf JSON writes an unset field as null (npm's v0.1 bundles do);
    dropping them is the same message."""
    if isinstance(obj, dict):
        return {k: _strip_nulls(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_strip_nulls(v) for v in obj]
    return obj


def _refuse(where: str, problem: str) -> ValidationError:
    return ValidationError(
        f"Not a valid Sigstore bundle at {where}: {problem}.", code="malformed"
    )


def _b64(obj: dict[str, Any], key: str, where: str, limit: int) -> bytes:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise _refuse(f"{where}.{key}", "expected a base64 string")
    if len(value) > limit * 2:
        raise _refuse(f"{where}.{key}", f"{len(value)} characters, too long")
    try:
        return b64decode(value)
    except ValueError:
        raise _refuse(f"{where}.{key}", "not base64") from None


def _obj(obj: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = obj.get(key)
    if not isinstance(value, dict):
        raise _refuse(f"{where}.{key}", "expected an object")
    return value


def _int(obj: dict[str, Any], key: str, where: str) -> int:
    value = obj.get(key)
    text = str(value) if isinstance(value, int | str) else ""
    if not text.isascii() or not text.isdigit() or len(text) > 20:
        raise _refuse(f"{where}.{key}", "expected a whole number")
    return int(text)


def _certificate(raw: bytes, where: str) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(raw)
    except ValueError:
        raise _refuse(where, "not a DER certificate") from None


def _entries(material: dict[str, Any]) -> tuple[LogEntry, ...]:
    items = material.get("tlogEntries") or []
    if not isinstance(items, list):
        raise _refuse("$.verificationMaterial.tlogEntries", "expected a list")
    if len(items) > LOG_ENTRIES_MAX:
        raise _refuse(
            "$.verificationMaterial.tlogEntries",
            f"{len(items)} entries; a bundle has one",
        )
    entries = []
    for i, item in enumerate(items):
        at = f"$.verificationMaterial.tlogEntries[{i}]"
        if not isinstance(item, dict):
            raise _refuse(at, "expected an object")
        kind_version = _obj(item, "kindVersion", at)
        kind, version = kind_version.get("kind"), kind_version.get("version")
        if not isinstance(kind, str) or not isinstance(version, str):
            raise _refuse(f"{at}.kindVersion", "expected kind and version")
        promise = item.get("inclusionPromise")
        proof = item.get("inclusionProof")
        entries.append(
            LogEntry(
                kind=kind,
                version=version,
                log_index=_int(item, "logIndex", at),
                log_id=_b64(_obj(item, "logId", at), "keyId", f"{at}.logId", 64),
                integrated_time=(
                    _int(item, "integratedTime", at)
                    if item.get("integratedTime") not in (None, "0", 0)
                    else None
                ),
                promise=(
                    _b64(promise, "signedEntryTimestamp", f"{at}.inclusionPromise", 512)
                    if isinstance(promise, dict)
                    else None
                ),
                body=_b64(item, "canonicalizedBody", at, LOG_BODY_MAX_BYTES),
                has_checkpoint=isinstance(proof, dict)
                and isinstance(proof.get("checkpoint"), dict)
                and bool(proof["checkpoint"].get("envelope")),
            )
        )
    return tuple(entries)


def bundle_read(obj: Any) -> Bundle:
    """Read a bundle's parts; refuse a malformed one, saying where."""
    if not is_bundle(obj):
        raise _refuse("$.mediaType", "not a Sigstore bundle media type")
    obj = _strip_nulls(obj)
    media_type = obj["mediaType"]
    version = MEDIA_TYPES.get(media_type)
    if version is None:
        raise _refuse(
            "$.mediaType",
            f"{media_type[:100]!r} is not a bundle version this portal reads "
            "(v0.1 to v0.3)",
        )
    material = _obj(obj, "verificationMaterial", "$")
    where = "$.verificationMaterial"
    certificate = None
    key_hint = ""
    if "certificate" in material:
        certificate = _certificate(
            _b64(
                _obj(material, "certificate", where),
                "rawBytes",
                f"{where}.certificate",
                CERTIFICATE_MAX_BYTES,
            ),
            f"{where}.certificate",
        )
    elif "x509CertificateChain" in material:
        chain = _obj(material, "x509CertificateChain", where).get("certificates")
        if not isinstance(chain, list) or not chain:
            raise _refuse(f"{where}.x509CertificateChain", "expected certificates")
        if len(chain) > CERTIFICATES_MAX:
            raise _refuse(f"{where}.x509CertificateChain", "too many certificates")
        first = chain[0]
        if not isinstance(first, dict):
            raise _refuse(f"{where}.x509CertificateChain[0]", "expected an object")
        certificate = _certificate(
            _b64(first, "rawBytes", f"{where}.x509CertificateChain[0]", 16_384),
            f"{where}.x509CertificateChain[0]",
        )
    elif "publicKey" in material:
        hint = _obj(material, "publicKey", where).get("hint", "")
        if not isinstance(hint, str) or len(hint) > 512:
            raise _refuse(f"{where}.publicKey.hint", "expected a short string")
        key_hint = hint
    else:
        raise _refuse(where, "no certificate and no public key")
    timestamps: list[bytes] = []
    data = material.get("timestampVerificationData") or {}
    if not isinstance(data, dict):
        raise _refuse(f"{where}.timestampVerificationData", "expected an object")
    stamps = data.get("rfc3161Timestamps") or []
    if not isinstance(stamps, list) or len(stamps) > TIMESTAMPS_MAX:
        raise _refuse(
            f"{where}.timestampVerificationData.rfc3161Timestamps",
            f"expected a list of at most {TIMESTAMPS_MAX}",
        )
    for i, stamp in enumerate(stamps):
        at = f"{where}.timestampVerificationData.rfc3161Timestamps[{i}]"
        if not isinstance(stamp, dict):
            raise _refuse(at, "expected an object")
        timestamps.append(_b64(stamp, "signedTimestamp", at, TIMESTAMP_MAX_BYTES))
    envelope = None
    message_digest = message_signature = None
    if "dsseEnvelope" in obj:
        envelope = envelope_read(obj["dsseEnvelope"], "$.dsseEnvelope")
    elif "messageSignature" in obj:
        message = _obj(obj, "messageSignature", "$")
        message_signature = _b64(message, "signature", "$.messageSignature", 2048)
        if "messageDigest" in message:
            digest = _obj(message, "messageDigest", "$.messageSignature")
            if digest.get("algorithm") != "SHA2_256":
                raise _refuse(
                    "$.messageSignature.messageDigest.algorithm",
                    "only SHA2_256 digests are read",
                )
            message_digest = _b64(
                digest, "digest", "$.messageSignature.messageDigest", 64
            )
            if len(message_digest) != 32:
                raise _refuse(
                    "$.messageSignature.messageDigest.digest", "not a SHA-256 digest"
                )
    else:
        raise _refuse("$", "neither a DSSE envelope nor a message signature")
    return Bundle(
        media_type=media_type,
        version=version,
        raw=obj,
        certificate=certificate,
        key_hint=key_hint,
        envelope=envelope,
        message_digest=message_digest,
        message_signature=message_signature,
        entries=_entries(material),
        timestamps=tuple(timestamps),
    )
