"""Sigstore bundles (v0.1 to v0.3), checked offline against a trust root.

A bundle carries a signature (over a DSSE envelope or over a file's digest),
what verifies it (a Fulcio certificate, or the hint of a public key the
verifier must already have) and the proofs of when it was made (a Rekor
transparency-log entry, RFC 3161 signed timestamps).

Three paths, each with every check the bundle format asks for:

- Keyless bundles go to sigstore-python's ``Verifier``: certificate chain to
  the trust root's Fulcio CAs at the time of signing, SCT, the log entry's
  inclusion proof and promise, the signature, and the log entry's consistency
  with the signature (CVE-2022-36056). The certificate's identity is then
  matched against the registered identity policies here, so a valid signature
  by an unregistered identity is told apart from an invalid one.
- Keyless v0.1 bundles that sigstore-python 4 no longer reads (an inclusion
  promise without an inclusion proof, as the v0.1 format allows, or an
  ``intoto`` log entry, as npm's provenance has): the same checks made here
  from sigstore-python's parts, with the inclusion promise (the log's signed
  entry timestamp) as the proof of inclusion and of time.
- Bundles signed by a public key (sigstore-python verifies none): the
  signature is checked against the registered keys (the bundle's hint first),
  and any log entry and signed timestamp against the trust root, the entry
  also against this signature, so a key's validity window is judged at an
  attested time.

Pure: the bundle's parsed JSON, the registered signers and the trust root in;
a ``Signed`` (who signed, when, the envelope) or a ``Refused`` out.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import rfc8785
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509 import ExtendedKeyUsage, KeyUsage
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
)
from django.core.exceptions import ValidationError
from rfc3161_client import VerifierBuilder, decode_timestamp_response
from sigstore.hashes import Hashed
from sigstore.models import Bundle as SigstoreBundle
from sigstore.models import TrustedRoot
from sigstore.verify import Verifier
from sigstore_models.common.v1 import HashAlgorithm

from .dsse import Envelope, b64decode
from .keys import (
    CERTIFICATE_CURVES,
    PublicKey,
    public_key_from,
    signature_valid,
    signature_valid_prehashed,
)
from .sigstore_bundle import Bundle, LogEntry
from .verdict import (
    CHECK_CERTIFICATE,
    CHECK_DIGEST,
    CHECK_SIGNATURE,
    CHECK_TIMESTAMP,
    CHECK_TRANSPARENCY_LOG,
    TIME_TIMESTAMP_AUTHORITY,
    TIME_TRANSPARENCY_LOG,
    Signer,
)

# Fulcio certificate extensions naming the OIDC issuer (v2: a DER UTF8String).
_OIDC_ISSUER_V1 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
_OIDC_ISSUER_V2 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
_OTHERNAME_IDENTITY = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.7")


class Refused(Exception):
    """A check failed: the signature cannot be relied on."""

    def __init__(self, check: str, message: str):
        super().__init__(message)
        self.check = check
        self.message = message


class NoKnownKey(Exception):
    """No registered key verifies the signature, and the bundle names none
    that is registered: made by an unknown key, or changed after signing."""

    def __init__(self, hint: str):
        super().__init__(hint)
        self.hint = hint


@dataclass(frozen=True)
class Signed:
    """A signature that verified: by whom (the registered signers it matches,
    maybe none), and when, by which proof."""

    identity: str
    signers: list[Signer]
    signed_at: datetime | None
    time_source: str
    envelope: Envelope | None
    key_ids: tuple[str, ...] = field(default=())


# --------------------------------------------------------------------------
# Proofs of time and of the log entry
# --------------------------------------------------------------------------


def _when(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def _promise_verify(entry: LogEntry, trust_root: TrustedRoot) -> datetime:
    """The log's signed entry timestamp over this entry: the time it was
    logged, signed by a transparency log of the trust root."""
    from sigstore._internal.trust import KeyringPurpose
    from sigstore._utils import KeyID

    if entry.promise is None or entry.integrated_time is None:
        raise Refused(
            CHECK_TRANSPARENCY_LOG,
            "The transparency-log entry has no inclusion promise to check offline.",
        )
    canonical = rfc8785.dumps(
        {
            "body": base64.b64encode(entry.body).decode(),
            "integratedTime": entry.integrated_time,
            "logID": entry.log_id.hex(),
            "logIndex": entry.log_index,
        }
    )
    try:
        keyring = trust_root.rekor_keyring(KeyringPurpose.VERIFY)
        keyring.verify(
            key_id=KeyID(entry.log_id), signature=entry.promise, data=canonical
        )
    except Exception:
        raise Refused(
            CHECK_TRANSPARENCY_LOG,
            "The transparency-log entry's inclusion promise does not verify with "
            "any transparency log of the trust root.",
        ) from None
    return _when(entry.integrated_time)


def _timestamps_verify(bundle: Bundle, trust_root: TrustedRoot) -> list[datetime]:
    """The signing times the bundle's RFC 3161 timestamps attest, each checked
    against the trust root's timestamp authorities over the signature."""
    if not bundle.timestamps:
        return []
    signature = bundle.signatures[0] if bundle.signatures else b""
    authorities = trust_root.get_timestamp_authorities()
    times = []
    for der in bundle.timestamps:
        try:
            response = decode_timestamp_response(der)
        except Exception:
            raise Refused(
                CHECK_TIMESTAMP, "A signed timestamp in the bundle cannot be read."
            ) from None
        for authority in authorities:
            chain = authority.certificates(allow_expired=True)
            if len(chain) < 2:
                continue
            builder = (
                VerifierBuilder()
                .tsa_certificate(chain[0])
                .add_root_certificate(chain[-1])
            )
            for intermediate in chain[1:-1]:
                builder = builder.add_intermediate_certificate(intermediate)
            try:
                builder.build().verify_message(response, signature)
            except Exception:  # noqa: S112 - try the next authority
                continue
            at = response.tst_info.gen_time
            end = authority.validity_period_end
            if authority.validity_period_start <= at and (end is None or at < end):
                times.append(at)
                break
    if not times:
        raise Refused(
            CHECK_TIMESTAMP,
            "No signed timestamp in the bundle verifies against the trust root's "
            "timestamp authorities.",
        )
    return times


def _same_key(
    pem_b64: str, *, certificate: x509.Certificate | None, key: PublicKey | None
) -> bool:
    """Whether a log entry's base64 PEM (a certificate or a public key) is the
    certificate or key that made this signature."""
    try:
        pem = b64decode(pem_b64)
    except ValueError:
        return False
    try:
        if b"CERTIFICATE" in pem:
            logged = x509.load_pem_x509_certificate(pem)
            if certificate is not None:
                return logged == certificate
            logged_key: PublicKeyTypes = logged.public_key()
        else:
            logged_key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError):
        return False
    if key is None:
        return False
    return logged_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == key.key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _base64_values(value: Any) -> set[bytes]:
    """A log entry's signature, decoded once and (intoto entries encode the
    envelope's base64 text again) twice."""
    out: set[bytes] = set()
    if not isinstance(value, str):
        return out
    try:
        once = b64decode(value)
    except ValueError:
        return out
    out.add(once)
    with contextlib.suppress(ValueError, UnicodeDecodeError):
        out.add(b64decode(once.decode("ascii")))
    return out


def _entry_consistent(
    entry: LogEntry,
    bundle: Bundle,
    *,
    digest: bytes | None,
    certificate: x509.Certificate | None,
    key: PublicKey | None,
) -> bool:
    """Whether the log entry records this very signing: the same signature,
    by the same certificate or key, over the same payload or digest."""
    try:
        body = json.loads(entry.body)
        spec = body["spec"]
    except (ValueError, KeyError, TypeError):
        return False
    signatures = set(bundle.signatures)
    try:
        if entry.kind == "hashedrekord" and entry.version == "0.0.1":
            signature = spec["signature"]
            return (
                digest is not None
                and spec["data"]["hash"]["algorithm"] == "sha256"
                and spec["data"]["hash"]["value"] == digest.hex()
                and bool(_base64_values(signature["content"]) & signatures)
                and _same_key(
                    signature["publicKey"]["content"],
                    certificate=certificate,
                    key=key,
                )
            )
        envelope = bundle.envelope
        if envelope is None:
            return False
        payload_hash = hashlib.sha256(envelope.payload).hexdigest()
        if entry.kind == "intoto" and entry.version == "0.0.2":
            content = spec["content"]
            logged = content["envelope"]["signatures"]
            return (
                content["payloadHash"]["value"] == payload_hash
                and len(logged) == len(envelope.signatures)
                and all(
                    _base64_values(item["sig"]) & signatures
                    and _same_key(item["publicKey"], certificate=certificate, key=key)
                    for item in logged
                )
            )
        if entry.kind == "dsse" and entry.version == "0.0.1":
            logged = spec["signatures"]
            return (
                spec["payloadHash"]["value"] == payload_hash
                and len(logged) == len(envelope.signatures)
                and all(
                    _base64_values(item["signature"]) & signatures
                    and _same_key(item["verifier"], certificate=certificate, key=key)
                    for item in logged
                )
            )
    except (KeyError, TypeError):
        return False
    return False


def _entry_check(
    entry: LogEntry,
    bundle: Bundle,
    trust_root: TrustedRoot,
    *,
    digest: bytes | None,
    certificate: x509.Certificate | None = None,
    key: PublicKey | None = None,
) -> datetime:
    at = _promise_verify(entry, trust_root)
    if not _entry_consistent(
        entry, bundle, digest=digest, certificate=certificate, key=key
    ):
        raise Refused(
            CHECK_TRANSPARENCY_LOG,
            "The transparency-log entry belongs to another signing: it does not "
            "record this signature, key and content.",
        )
    return at


# --------------------------------------------------------------------------
# Keyless: the certificate's identity
# --------------------------------------------------------------------------


def _der_utf8(value: bytes) -> str:
    # A short DER UTF8String: tag 0x0c, one length byte.
    if len(value) >= 2 and value[0] == 0x0C and value[1] == len(value) - 2:
        return value[2:].decode("utf-8", "replace")
    return value.decode("utf-8", "replace")


def certificate_identity(certificate: x509.Certificate) -> tuple[list[str], str]:
    """A Fulcio certificate's identities (email, URI and Sigstore other-name
    SANs) and its OIDC issuer."""
    identities: list[str] = []
    try:
        san = certificate.extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        ).value
        identities += san.get_values_for_type(x509.RFC822Name)
        identities += san.get_values_for_type(x509.UniformResourceIdentifier)
        identities += [
            _der_utf8(other.value)
            for other in san.get_values_for_type(x509.OtherName)
            if other.type_id == _OTHERNAME_IDENTITY
        ]
    except x509.ExtensionNotFound:
        pass
    issuer = ""
    for oid, decode in ((_OIDC_ISSUER_V2, _der_utf8), (_OIDC_ISSUER_V1, None)):
        try:
            value = certificate.extensions.get_extension_for_oid(oid).value
        except x509.ExtensionNotFound:
            continue
        raw = value.value  # type: ignore[attr-defined]
        issuer = decode(raw) if decode else raw.decode("utf-8", "replace")
        break
    return identities, issuer


def _identity_text(identities: list[str], issuer: str) -> str:
    who = ", ".join(identities) or "a certificate with no identity"
    return f"{who} (issuer {issuer or 'not stated'})"


class _Recording:
    """A verification policy that accepts any identity: sigstore-python then
    checks everything else, and the identity is matched to the registered
    policies afterwards, so an unknown identity reads Untrusted, not Invalid."""

    def verify(self, cert: x509.Certificate) -> None:
        return None


_CHECK_WORDS = (
    ("certificate chain", CHECK_CERTIFICATE),
    ("signing cert", CHECK_CERTIFICATE),
    ("transparency log", CHECK_TRANSPARENCY_LOG),
    ("log entry", CHECK_TRANSPARENCY_LOG),
    ("inclusion", CHECK_TRANSPARENCY_LOG),
    ("checkpoint", CHECK_TRANSPARENCY_LOG),
    ("SET", CHECK_TRANSPARENCY_LOG),
    ("digest mismatch", CHECK_DIGEST),
    ("timestamp", CHECK_TIMESTAMP),
    ("time", CHECK_TIMESTAMP),
    ("cert", CHECK_CERTIFICATE),
    ("SCT", CHECK_CERTIFICATE),
    ("chain", CHECK_CERTIFICATE),
    ("usage", CHECK_CERTIFICATE),
    ("ignature", CHECK_SIGNATURE),
)


def _check_of(message: str) -> str:
    for word, check in _CHECK_WORDS:
        if word in message:
            return check
    return CHECK_SIGNATURE


def _library_path(bundle: Bundle) -> bool:
    """Whether sigstore-python reads this keyless bundle: v0.2 and later
    always; v0.1 when its entry has an inclusion proof with a checkpoint and is
    of a kind sigstore-python checks (dsse, hashedrekord)."""
    if bundle.version != "0.1":
        return True
    return len(bundle.entries) == 1 and (
        bundle.entries[0].has_checkpoint
        and bundle.entries[0].kind in ("dsse", "hashedrekord")
        and bundle.entries[0].version == "0.0.1"
    )


def _keyless_library(
    bundle: Bundle,
    trust_root: TrustedRoot,
    digest: bytes | None,
    artifact: bytes | None,
) -> None:
    try:
        parsed = SigstoreBundle.from_json(json.dumps(bundle.raw))
        verifier = Verifier(trusted_root=trust_root)
        if bundle.envelope is not None:
            verifier.verify_dsse(parsed, _Recording())
        else:
            subject: bytes | Hashed
            if artifact is not None:
                subject = artifact
            elif digest is not None:
                subject = Hashed(algorithm=HashAlgorithm.SHA2_256, digest=digest)
            else:
                raise Refused(
                    CHECK_DIGEST,
                    "A message signature is checked against the file it signs; "
                    "none was given.",
                )
            verifier.verify_artifact(subject, parsed, _Recording())
    except Refused:
        raise
    except Exception as exc:
        message = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        raise Refused(
            _check_of(message), f"Sigstore verification failed: {message}."
        ) from None


def _chain_at(
    certificate: x509.Certificate, at: datetime, trust_root: TrustedRoot
) -> list[x509.Certificate]:
    # As sigstore-python does: Fulcio certificates carry code signing, not the
    # client-auth usage a default client verifier wants.
    ca_policy = ExtensionPolicy.webpki_defaults_ca().may_be_present(
        ExtendedKeyUsage, Criticality.NON_CRITICAL, None
    )
    ee_policy = ExtensionPolicy.webpki_defaults_ee().may_be_present(
        ExtendedKeyUsage, Criticality.NON_CRITICAL, None
    )
    verifier = (
        PolicyBuilder()
        .store(Store(trust_root.get_fulcio_certs()))
        .time(at)
        .extension_policies(ca_policy=ca_policy, ee_policy=ee_policy)
        .build_client_verifier()
    )
    try:
        return list(verifier.verify(certificate, []).chain[1:])
    except Exception:
        raise Refused(
            CHECK_CERTIFICATE,
            "The signing certificate does not chain to the trust root's "
            "certificate authorities at the time of signing.",
        ) from None


def _keyless_by_promise(
    bundle: Bundle, trust_root: TrustedRoot, digest: bytes | None
) -> datetime:
    """A v0.1 keyless bundle checked by its inclusion promise."""
    from sigstore._internal.sct import verify_sct
    from sigstore._internal.trust import KeyringPurpose

    certificate = bundle.certificate
    assert certificate is not None  # noqa: S101 - keyless bundles only
    if len(bundle.entries) != 1:
        raise Refused(
            CHECK_TRANSPARENCY_LOG, "A v0.1 bundle has exactly one log entry."
        )
    entry = bundle.entries[0]
    at = _promise_verify(entry, trust_root)
    chain = _chain_at(certificate, at, trust_root)
    try:
        verify_sct(certificate, chain, trust_root.ct_keyring(KeyringPurpose.VERIFY))
    except Exception:
        raise Refused(
            CHECK_CERTIFICATE,
            "The signing certificate's SCT does not verify against the trust "
            "root's certificate transparency logs.",
        ) from None
    try:
        usage = certificate.extensions.get_extension_for_class(KeyUsage).value
        extended = certificate.extensions.get_extension_for_class(
            ExtendedKeyUsage
        ).value
    except x509.ExtensionNotFound:
        raise Refused(
            CHECK_CERTIFICATE, "The signing certificate states no key usage."
        ) from None
    if not usage.digital_signature or ExtendedKeyUsageOID.CODE_SIGNING not in extended:
        raise Refused(CHECK_CERTIFICATE, "The certificate is not one for signing code.")
    if not (certificate.not_valid_before_utc <= at <= certificate.not_valid_after_utc):
        raise Refused(
            CHECK_CERTIFICATE,
            "The entry was logged outside the signing certificate's validity.",
        )
    try:
        key = public_key_from(certificate.public_key(), curves=CERTIFICATE_CURVES)
    except ValidationError:
        raise Refused(
            CHECK_CERTIFICATE, "The certificate's key is of an unknown type."
        ) from None
    if bundle.envelope is not None:
        data = bundle.envelope.pae()
        valid = bool(bundle.envelope.signatures) and all(
            signature_valid(key, s.sig, data) for s in bundle.envelope.signatures
        )
    else:
        valid = (
            digest is not None
            and bundle.message_signature is not None
            and signature_valid_prehashed(key, bundle.message_signature, digest)
        )
    if not valid:
        raise Refused(
            CHECK_SIGNATURE,
            "The signature does not verify with the signing certificate: the "
            "content was changed after signing.",
        )
    if not _entry_consistent(
        entry, bundle, digest=digest, certificate=certificate, key=key
    ):
        raise Refused(
            CHECK_TRANSPARENCY_LOG,
            "The transparency-log entry belongs to another signing: it does not "
            "record this signature, certificate and content.",
        )
    return at


def _digest_for(
    bundle: Bundle, artifact: bytes | None, digest: bytes | None
) -> bytes | None:
    """The SHA-256 a message signature is checked over: of the file given, or
    the digest given; it must be the one the bundle states."""
    if bundle.envelope is not None:
        return None
    if artifact is not None:
        digest = hashlib.sha256(artifact).digest()
    if digest is None:
        raise Refused(
            CHECK_DIGEST,
            "A message signature is checked against the file it signs; none was given.",
        )
    if bundle.message_digest is not None and bundle.message_digest != digest:
        raise Refused(
            CHECK_DIGEST,
            "The bundle signs another file: its digest is "
            f"sha256:{bundle.message_digest.hex()}, the document's is "
            f"sha256:{digest.hex()}.",
        )
    return digest


def bundle_verify(
    bundle: Bundle,
    *,
    signers: list[Signer],
    trust_root: TrustedRoot,
    artifact: bytes | None = None,
    digest: bytes | None = None,
) -> Signed:
    """Verify a bundle offline; for a message signature, over ``artifact``
    (the file) or ``digest`` (its SHA-256). Raises ``Refused`` when a check
    fails and ``NoKnownKey`` when no registered key verifies a key-signed one."""
    digest = _digest_for(bundle, artifact, digest)
    if bundle.certificate is None:
        return _by_key(bundle, signers=signers, trust_root=trust_root, digest=digest)
    if _library_path(bundle):
        _keyless_library(bundle, trust_root, digest, artifact)
        times = _timestamps_verify(bundle, trust_root)
        entry = bundle.entries[0] if bundle.entries else None
        if times:
            signed_at, source = min(times), TIME_TIMESTAMP_AUTHORITY
        elif entry is not None and entry.integrated_time and entry.promise:
            signed_at, source = _when(entry.integrated_time), TIME_TRANSPARENCY_LOG
        else:
            signed_at, source = (
                bundle.certificate.not_valid_before_utc,
                "its certificate",
            )
    else:
        signed_at = _keyless_by_promise(bundle, trust_root, digest)
        source = TIME_TRANSPARENCY_LOG
    identities, issuer = certificate_identity(bundle.certificate)
    return Signed(
        identity=_identity_text(identities, issuer),
        signers=[s for s in signers if s.covers(identities=identities, issuer=issuer)],
        signed_at=signed_at,
        time_source=source,
        envelope=bundle.envelope,
    )


def _by_key(
    bundle: Bundle,
    *,
    signers: list[Signer],
    trust_root: TrustedRoot,
    digest: bytes | None,
) -> Signed:
    keys = [s for s in signers if s.public_key is not None]
    hints = {bundle.key_hint} if bundle.key_hint else set()
    if bundle.envelope is not None:
        hints |= {s.keyid for s in bundle.envelope.signatures if s.keyid}
    hinted = [s for s in keys if any(s.answers_to(h) for h in hints)]
    ordered = hinted + [s for s in keys if s not in hinted]

    def made(signer: Signer) -> bool:
        key = signer.public_key
        assert key is not None  # noqa: S101 - keys only
        if bundle.envelope is not None:
            data = bundle.envelope.pae()
            return any(
                signature_valid(key, s.sig, data) for s in bundle.envelope.signatures
            )
        return (
            digest is not None
            and bundle.message_signature is not None
            and signature_valid_prehashed(key, bundle.message_signature, digest)
        )

    matched = [s for s in ordered if made(s)]
    if not matched:
        if hinted:
            raise Refused(
                CHECK_SIGNATURE,
                f"The signature does not verify with {hinted[0].name}, the key the "
                "bundle names: the content was changed after signing.",
            )
        raise NoKnownKey(bundle.key_hint or ", ".join(sorted(hints)))
    key = matched[0].public_key
    times: list[tuple[datetime, str]] = []
    for entry in bundle.entries:
        at = _entry_check(entry, bundle, trust_root, digest=digest, key=key)
        times.append((at, TIME_TRANSPARENCY_LOG))
    times += [
        (at, TIME_TIMESTAMP_AUTHORITY) for at in _timestamps_verify(bundle, trust_root)
    ]
    signed_at, source = min(times) if times else (None, "")
    assert key is not None  # noqa: S101
    return Signed(
        identity=f"{key.label} key {key.fingerprint[:16]}",
        signers=matched,
        signed_at=signed_at,
        time_source=source,
        envelope=bundle.envelope,
        key_ids=tuple(sorted(hints)),
    )
