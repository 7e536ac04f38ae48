"""Whether a document's signature holds: the one entry point of the verifier.

A document is signed in one of three ways the portal reads:

- it is a DSSE envelope (an in-toto statement signed with a publisher's key,
  as Docker signs its hardened images' attestations): the signature over the
  envelope's pre-authentication encoding is checked against the registered
  keys (those the envelope's key ids name first, then every other);
- it is a Sigstore bundle holding a DSSE envelope (``formats.sigstore_bundle``);
- a detached signature comes with it: a Sigstore bundle whose message
  signature is over the document's bytes, or whose (or a bare DSSE envelope's)
  in-toto statement names the document's SHA-256.

A signed in-toto statement must be about what it is attached to: one of its
subjects must carry one of the expected digests (the build's image digest for
an attestation, the document's own SHA-256 for a detached statement).

Pure: bytes, the registered signers (``verdict.Signer``) and a sigstore
``TrustedRoot`` in, a ``verdict.Verdict`` out. Nothing is stored here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from sigstore.models import TrustedRoot

from .document import document_loads
from .dsse import IN_TOTO_PAYLOAD_TYPE, Envelope, envelope_read
from .keys import signature_valid
from .sigstore_bundle import bundle_read, is_bundle
from .sigstore_verify import NoKnownKey, Refused, Signed, bundle_verify
from .verdict import (
    CHECK_DIGEST,
    CHECK_FORMAT,
    CHECK_PAYLOAD_TYPE,
    CHECK_SIGNATURE,
    CHECK_SUBJECT,
    CHECK_UNKNOWN_SIGNER,
    UNTRUSTED,
    Signer,
    Verdict,
    invalid,
    trust_decide,
    unverified,
)

SUBJECTS_SHOWN = 3
# A document that signs itself names one of these keys; one that names none
# (an SBOM, a scan) is not parsed a second time to find out.
_SIGNED_MARKERS = (b'"payloadType"', b'"dsseEnvelope"', b'"messageSignature"')


def _is_envelope(obj: Any) -> bool:
    return isinstance(obj, dict) and "payloadType" in obj and "payload" in obj


def _json(content: bytes) -> Any:
    try:
        return document_loads(content)
    except ValidationError:
        return None


def envelope_verify(envelope: Envelope, *, signers: list[Signer]) -> Signed:
    """Check a bare DSSE envelope's signatures against the registered keys."""
    keys = [s for s in signers if s.public_key is not None]
    hints = [s.keyid for s in envelope.signatures if s.keyid]
    hinted = [s for s in keys if any(s.answers_to(h) for h in hints)]
    ordered = hinted + [s for s in keys if s not in hinted]
    data = envelope.pae()
    matched = []
    for signer in ordered:
        key = signer.public_key
        assert key is not None  # noqa: S101 - keys only
        if any(
            signature_valid(key, signature.sig, data)
            for signature in envelope.signatures
        ):
            matched.append(signer)
    if not matched:
        if hinted:
            raise Refused(
                CHECK_SIGNATURE,
                f"The signature does not verify with {hinted[0].name}, the key the "
                "envelope names: the content was changed after signing.",
            )
        raise NoKnownKey(", ".join(hints))
    key = matched[0].public_key
    assert key is not None  # noqa: S101
    return Signed(
        identity=f"{key.label} key {key.fingerprint[:16]}",
        signers=matched,
        signed_at=None,
        time_source="",
        envelope=envelope,
        key_ids=tuple(dict.fromkeys(hints)),
    )


def _subjects_text(subjects: list[Any]) -> str:
    named = []
    for subject in subjects[:SUBJECTS_SHOWN]:
        if not isinstance(subject, dict):
            continue
        digest = subject.get("digest")
        pairs = (
            [f"{alg}:{str(value)[:128]}" for alg, value in list(digest.items())[:1]]
            if isinstance(digest, dict)
            else []
        )
        name = str(subject.get("name") or "")[:100]
        named.append(
            f"{name} ({pairs[0]})" if name and pairs else name or "".join(pairs[:1])
        )
    if len(subjects) > SUBJECTS_SHOWN:
        named.append(f"{len(subjects) - SUBJECTS_SHOWN} more")
    return ", ".join(named)


def statement_check(envelope: Envelope, expected: Mapping[str, str]) -> Verdict | None:
    """The signed statement's type and subject: None when it is an in-toto
    statement about one of the ``expected`` digests (algorithm -> hex), else
    the Invalid verdict saying what it is instead."""
    if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE:
        return invalid(
            CHECK_PAYLOAD_TYPE,
            f"The signed payload is {envelope.payload_type[:100]!r}, not an in-toto "
            f"statement ({IN_TOTO_PAYLOAD_TYPE}).",
        )
    statement = _json(envelope.payload)
    subjects = statement.get("subject") if isinstance(statement, dict) else None
    if not isinstance(subjects, list) or not subjects:
        return invalid(
            CHECK_SUBJECT,
            "The signed statement is not an in-toto statement with subjects.",
        )
    wanted = {(alg.lower(), value.lower()) for alg, value in expected.items()}
    for subject in subjects:
        digest = subject.get("digest") if isinstance(subject, dict) else None
        if not isinstance(digest, dict):
            continue
        for alg, value in digest.items():
            if isinstance(value, str) and (alg.lower(), value.lower()) in wanted:
                return None
    names = ", ".join(f"{alg}:{value}" for alg, value in sorted(expected.items()))
    return invalid(
        CHECK_SUBJECT,
        f"The signed statement is about {_subjects_text(subjects)}, not {names}.",
    )


def _verdict(
    signed: Signed,
    *,
    expected: Mapping[str, str] | None,
    received_at: datetime,
) -> Verdict:
    if signed.envelope is not None and expected is not None:
        problem = statement_check(signed.envelope, expected)
        if problem is not None:
            return Verdict(
                status=problem.status,
                message=problem.message,
                check=problem.check,
                identity=signed.identity,
                key_ids=signed.key_ids,
            )
    verdict = trust_decide(
        candidates=signed.signers,
        identity=signed.identity,
        signed_at=signed.signed_at,
        time_source=signed.time_source,
        received_at=received_at,
    )
    return Verdict(**{**verdict.__dict__, "key_ids": signed.key_ids})


def _no_known_key(hint: str) -> Verdict:
    named = f" (it names key {hint[:100]})" if hint else ""
    return Verdict(
        status=UNTRUSTED,
        check=CHECK_UNKNOWN_SIGNER,
        message=f"No registered key verifies this signature{named}: it was made "
        "by a key the portal does not know, or the content was changed after "
        "signing.",
        key_ids=(hint,) if hint else (),
    )


def _checked(run, **verdict_args) -> Verdict:
    try:
        signed = run()
    except Refused as exc:
        return invalid(exc.check, exc.message)
    except NoKnownKey as exc:
        return _no_known_key(exc.hint)
    except ValidationError as exc:
        return invalid(CHECK_FORMAT, " ".join(exc.messages))
    return _verdict(signed, **verdict_args)


def signed_object_verify(
    obj: Any,
    *,
    signers: list[Signer],
    trust_root: TrustedRoot | None,
    received_at: datetime,
    expected: Mapping[str, str] | None,
    artifact: bytes | None = None,
    digest: bytes | None = None,
) -> Verdict:
    """Verify a parsed Sigstore bundle or DSSE envelope."""
    if is_bundle(obj):
        if trust_root is None:
            return invalid(CHECK_FORMAT, "No Sigstore trust root is configured.")
        return _checked(
            lambda: bundle_verify(
                bundle_read(obj),
                signers=signers,
                trust_root=trust_root,
                artifact=artifact,
                digest=digest,
            ),
            expected=expected,
            received_at=received_at,
        )
    if _is_envelope(obj):
        return _checked(
            lambda: envelope_verify(envelope_read(obj), signers=signers),
            expected=expected,
            received_at=received_at,
        )
    return invalid(
        CHECK_FORMAT,
        "The signature is neither a Sigstore bundle nor a DSSE envelope.",
    )


def document_signature_verify(
    *,
    document: bytes,
    signature: bytes | None = None,
    subject_digests: Mapping[str, str] | None = None,
    signers: list[Signer],
    trust_root: TrustedRoot | None,
    received_at: datetime,
) -> Verdict:
    """The verdict on one document: its own signature (a DSSE envelope or a
    Sigstore bundle holding one, whose statement must name one of
    ``subject_digests``) or the detached ``signature`` given with it."""
    if signature is not None:
        obj = _json(signature)
        if obj is None:
            return invalid(
                CHECK_FORMAT,
                "The signature file is not JSON (a Sigstore bundle or "
                "a DSSE envelope).",
            )
        own = {"sha256": hashlib.sha256(document).hexdigest()}
        return signed_object_verify(
            obj,
            signers=signers,
            trust_root=trust_root,
            received_at=received_at,
            expected=own,
            artifact=document,
        )
    if not any(marker in document for marker in _SIGNED_MARKERS):
        return unverified()
    obj = _json(document)
    if is_bundle(obj) or _is_envelope(obj):
        if is_bundle(obj) and "dsseEnvelope" not in obj:
            return invalid(
                CHECK_FORMAT,
                "This Sigstore bundle signs another file (a message signature); "
                "load that file with this bundle as its signature.",
            )
        return signed_object_verify(
            obj,
            signers=signers,
            trust_root=trust_root,
            received_at=received_at,
            expected=subject_digests,
        )
    return unverified()


def payload_envelope_verify(
    *,
    document: bytes,
    signature: bytes,
    signers: list[Signer],
    received_at: datetime,
) -> Verdict:
    """The verdict on a DSSE envelope whose payload is ``document`` itself,
    byte for byte (how the portal signs what it serves): the payload must be
    the document, and a signature over its pre-authentication encoding must
    verify with one of ``signers``' keys."""
    try:
        obj = document_loads(signature)
    except ValidationError as exc:
        return invalid(
            CHECK_FORMAT,
            "The signature file is not JSON (a DSSE envelope): "
            + " ".join(exc.messages),
        )
    if not _is_envelope(obj):
        return invalid(
            CHECK_FORMAT,
            "The signature file is not a DSSE envelope (payloadType, payload, "
            "signatures).",
        )
    try:
        envelope = envelope_read(obj)
    except ValidationError as exc:
        return invalid(CHECK_FORMAT, " ".join(exc.messages))
    if envelope.payload != document:
        return invalid(
            CHECK_DIGEST,
            f"The envelope signs another file: its payload is {len(envelope.payload)} "
            f"bytes with SHA-256 {hashlib.sha256(envelope.payload).hexdigest()}, "
            f"not this file's {len(document)} bytes with SHA-256 "
            f"{hashlib.sha256(document).hexdigest()}.",
        )
    return _checked(
        lambda: envelope_verify(envelope, signers=signers),
        expected=None,
        received_at=received_at,
    )


def dumps_verdict(verdict: Verdict) -> str:
    """A verdict as one line of JSON (for command output and logs)."""
    return json.dumps(
        {
            "status": verdict.status,
            "check": verdict.check,
            "signer": verdict.signer.name if verdict.signer else "",
            "identity": verdict.identity,
            "signed_at": verdict.signed_at.isoformat() if verdict.signed_at else None,
            "message": verdict.message,
        }
    )
