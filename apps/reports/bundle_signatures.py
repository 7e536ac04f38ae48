"""What an evidence bundle carries to check signatures offline.

Beside the documents (``bundle``), the bundle holds:

- ``evidence.json.dsse.json``: the portal's DSSE signature of ``evidence.json``
  (its payload is that file, byte for byte; ``statements``);
- ``<document>.sig.json`` beside each attestation that came with a detached
  signature (a DSSE envelope or a Sigstore bundle), as the portal received it;
- ``signatures/keys/``: the public keys of the registered signers whose
  signatures are in the bundle (``<fingerprint[:16]>.pem``) and the portal's
  own (``portal-<key id[:16]>.pem`` and its certificate);
- ``signatures/sigstore-trusted-root.json``: the Sigstore trust root the
  portal checked Sigstore bundles against, when the bundle holds one;
- ``signatures/verdicts.json``: each document's verdict as the portal last
  checked it, with the files to check it with;
- ``signatures/VERIFY.txt``: how to check them with standard tools (openssl,
  jq and base64 for key-signed DSSE envelopes; cosign or sigstore-python for
  Sigstore bundles), naming each envelope and key pair in this bundle.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.core.exceptions import ValidationError

from apps.catalog.formats.document import document_loads
from apps.catalog.formats.dsse import IN_TOTO_PAYLOAD_TYPE
from apps.catalog.formats.intoto import DSSE_MEDIA_TYPE
from apps.catalog.formats.sigstore_bundle import MEDIA_TYPE_PREFIX, is_bundle
from apps.catalog.formats.verdict import CHECK_LABELS
from apps.catalog.models import Attestation, TrustedSigner
from apps.catalog.signers import signer_of

from .signing import signing_key_pair
from .statements import statement_sign

EVIDENCE = "evidence.json"
EVIDENCE_SIGNATURE = "evidence.json.dsse.json"
FOLDER = "signatures/"
GUIDE = "signatures/VERIFY.txt"
VERDICTS = "signatures/verdicts.json"
TRUST_ROOT = "signatures/sigstore-trusted-root.json"
KEYS = "signatures/keys/"
SIGNATURE_SUFFIX = ".sig.json"
CHUNK = 500

ENVELOPE, SIGSTORE = "dsse", "sigstore"


@dataclass(frozen=True)
class Signed:
    """One document of the bundle and what checks its signature."""

    document: str  # its path in the bundle
    attestation: Attestation
    signature: str  # the path of its detached signature, or ""
    form: str  # ENVELOPE, SIGSTORE, or "" (no signature)
    envelope: str  # the DSSE envelope openssl checks: the document or signature
    key: str  # the signer's public key in the bundle, or ""
    signer: TrustedSigner | None


def _form(content: bytes | None, media_type: str) -> str:
    """Whether a signature (or a document signing itself) is a DSSE envelope
    or a Sigstore bundle."""
    if content is None:
        if media_type == DSSE_MEDIA_TYPE:
            return ENVELOPE
        return SIGSTORE if media_type.startswith(MEDIA_TYPE_PREFIX) else ""
    try:
        obj = document_loads(content)
    except ValidationError:  # a signature the verifier called malformed
        return ""
    if is_bundle(obj):
        return SIGSTORE
    return ENVELOPE if isinstance(obj, dict) and "payloadType" in obj else ""


def _key_path(signer: TrustedSigner) -> str:
    return f"{KEYS}{signer.fingerprint[:16]}.pem"


def _named_key(
    attestation: Attestation, keys: list[TrustedSigner]
) -> TrustedSigner | None:
    """The registered key an envelope names when no verdict names its signer
    (an invalid signature: the key it claims is the one to check it with)."""
    hints = [h.strip() for h in attestation.signer_key_id.split(",") if h.strip()]
    for row in keys:
        signer = signer_of(row)
        if any(signer.answers_to(hint) for hint in hints):
            return row
    return None


def _rows(ids: list[int]) -> dict[int, Attestation]:
    rows: dict[int, Attestation] = {}
    for at in range(0, len(ids), CHUNK):
        rows.update(
            (a.pk, a)
            for a in Attestation.objects.filter(pk__in=ids[at : at + CHUNK])
            .select_related("signature_signer")
            .only(
                "id",
                "kind",
                "sha256",
                "media_type",
                "signer_key_id",
                "signature_status",
                "signature_check",
                "signature_identity",
                "signature_signed_at",
                "signature_checked_at",
                "signature_message",
                "signature_file",
                "signature_signer",
            )
        )
    return rows


def _read(field) -> bytes:
    with field.open("rb") as handle:
        return handle.read()


def _signed(
    documents: list[tuple[str, int]],
) -> tuple[list[Signed], dict[str, bytes]]:
    """Each document with what checks it, and the signature files to add."""
    rows = _rows(sorted({pk for _, pk in documents}))
    keys: list[TrustedSigner] | None = None
    found: list[Signed] = []
    files: dict[str, bytes] = {}
    for path, pk in documents:
        a = rows[pk]
        content = _read(a.signature_file) if a.signature_file else None
        signature = f"{path}{SIGNATURE_SUFFIX}" if content is not None else ""
        if content is not None:
            files[signature] = content
        form = _form(content, a.media_type)
        signer = a.signature_signer
        if signer is None and form == ENVELOPE and a.signer_key_id:
            if keys is None:
                keys = list(
                    TrustedSigner.objects.filter(kind=TrustedSigner.Kind.PUBLIC_KEY)
                )
            signer = _named_key(a, keys)
        key = ""
        if signer is not None and signer.kind == TrustedSigner.Kind.PUBLIC_KEY:
            key = _key_path(signer)
            files[key] = signer.public_key_pem.encode()
        found.append(
            Signed(
                document=path,
                attestation=a,
                signature=signature,
                form=form,
                envelope=(signature or path) if form == ENVELOPE else "",
                key=key,
                signer=signer,
            )
        )
    return found, files


def _iso(moment) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def _verdict(s: Signed) -> dict:
    a = s.attestation
    signer = a.signature_signer
    return {
        "document": s.document,
        "sha256": a.sha256,
        "kind": a.kind,
        "status": a.signature_status,
        "check": a.signature_check,
        "check_label": CHECK_LABELS.get(a.signature_check, ""),
        "signer": signer.name if signer else None,
        "signer_revoked_at": _iso(signer.revoked_at) if signer else None,
        "issuer": signer.issuer or None if signer else None,
        "identity": a.signature_identity,
        "signed_at": _iso(a.signature_signed_at),
        "checked_at": _iso(a.signature_checked_at),
        "message": a.signature_message,
        "signature": s.signature or None,
        "form": s.form or None,
        "key": s.key or None,
    }


@dataclass(frozen=True)
class PortalKey:
    key_id: str
    subject: str
    public_key: str
    certificate: str


def _portal_key() -> tuple[PortalKey, dict[str, bytes]]:
    pair = signing_key_pair()
    stem = f"{KEYS}portal-{pair.row.key_id.removeprefix('sha256:')[:16]}"
    public = pair.certificate.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    certificate = pair.certificate.public_bytes(serialization.Encoding.PEM)
    key = PortalKey(
        key_id=pair.row.key_id,
        subject=pair.row.subject,
        public_key=f"{stem}.pem",
        certificate=f"{stem}.crt",
    )
    return key, {key.public_key: public, key.certificate: certificate}


def _trust_root() -> bytes:
    return Path(settings.SIGSTORE_TRUSTED_ROOT_FILE).read_bytes()


def signature_files(
    *, evidence_json: bytes, documents: Iterable[tuple[str, int]]
) -> list[tuple[str, bytes]]:
    """The files the bundle adds for its signatures (see the module
    docstring), given ``evidence.json`` and the bundle's attestations as
    (path in the bundle, attestation id)."""
    signed, files = _signed(list(documents))
    portal, portal_files = _portal_key()
    files.update(portal_files)
    files[EVIDENCE_SIGNATURE] = statement_sign(
        evidence_json, payload_type="application/json"
    )
    sigstore = any(s.form == SIGSTORE for s in signed)
    if sigstore:
        files[TRUST_ROOT] = _trust_root()
    verdicts = {
        "evidence": {
            "document": EVIDENCE,
            "signature": EVIDENCE_SIGNATURE,
            "key": portal.public_key,
            "certificate": portal.certificate,
            "key_id": portal.key_id,
            "signer": portal.subject,
        },
        "trust_root": TRUST_ROOT if sigstore else None,
        "attestations": [_verdict(s) for s in signed],
    }
    files[VERDICTS] = (
        json.dumps(verdicts, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    ).encode()
    files[GUIDE] = guide(portal=portal, signed=signed, sigstore=sigstore).encode()
    return sorted(files.items())


# The openssl steps of the guide, run as they are printed (tests run them).
OPENSSL_STEPS = (
    'jq -j .payloadType "$ENVELOPE" > payload-type',
    'jq -j .payload "$ENVELOPE" | base64 -d > payload',
    "jq -j '.signatures[0].sig' \"$ENVELOPE\" | base64 -d > signature",
    'printf \'DSSEv1 %d %s %d \' "$(wc -c < payload-type)" "$(cat payload-type)" '
    '"$(wc -c < payload)" > pae',
    "cat payload >> pae",
    'openssl dgst -sha256 -verify "$KEY" -signature signature pae',
)


def _pair_lines(s: Signed) -> list[str]:
    a = s.attestation
    what = a.get_signature_status_display().split(" (")[0].lower()
    if a.signature_status == Attestation.SignatureStatus.VERIFIED and s.signer:
        what = f"verified, signed by {s.signer.name}"
    elif a.signature_check:
        what += f" ({CHECK_LABELS.get(a.signature_check, a.signature_check)})"
    names = (
        "the image digest"
        if s.envelope == s.document
        else f"the SHA-256 of {s.document.rsplit('/', 1)[1]}"
    )
    return [
        f"     ENVELOPE={s.envelope}",
        f"     KEY={s.key}",
        f"       {what}; its statement names {names}",
    ]


def guide(*, portal: PortalKey, signed: list[Signed], sigstore: bool) -> str:
    """signatures/VERIFY.txt: how to check the signatures offline."""
    pairs = [s for s in signed if s.form == ENVELOPE and s.key]
    bundles = [s for s in signed if s.form == SIGSTORE]
    counts = {status: 0 for status in Attestation.SignatureStatus.values}
    for s in signed:
        counts[s.attestation.signature_status] += 1
    lines = [
        "Checking the signatures in this bundle offline",
        "",
        "The portal checked each attestation's signature against the publisher's",
        "trusted signers when it was loaded, and again when the signers changed.",
        f"{VERDICTS} gives every document's verdict: verified (by",
        "which signer and key or identity, when), unverified (no signature),",
        "invalid (which check failed) or untrusted (a valid signature by an",
        'unknown, out-of-window or revoked signer: "no longer trusted").',
        f"In this bundle: {counts['verified']} verified, "
        f"{counts['unverified']} unverified, {counts['invalid']} invalid, "
        f"{counts['untrusted']} untrusted.",
        "",
        f"{KEYS} holds the public keys of the signers involved and",
        "the portal's own key and certificate"
        + (
            f"; {TRUST_ROOT}\nis the Sigstore trust root the portal checked "
            "Sigstore bundles against."
            if sigstore
            else "."
        ),
        "",
        "1. A DSSE envelope signed with a key (openssl, jq, base64)",
        "",
        "   Set ENVELOPE and KEY to a pair below; in the unpacked bundle, run:",
        "",
        *(f"    {step}" for step in OPENSSL_STEPS),
        "",
        '   "Verified OK": the key signed exactly this payload; "Verification',
        '   failure": it did not. An Ed25519 key needs, for the last step:',
        '     openssl pkeyutl -verify -pubin -inkey "$KEY" -rawin -in pae \\',
        "       -sigfile signature",
        "   Then check what the payload says:",
        f"   - {EVIDENCE_SIGNATURE}: the payload is {EVIDENCE} itself:",
        f"       cmp payload {EVIDENCE}",
        "   - an attestation's .sig.json: an in-toto statement naming the SHA-256",
        "     of the document beside it:",
        "       jq -r '.subject[].digest.sha256' payload; sha256sum DOCUMENT",
        "   - an attestation that is itself an envelope: its statement names the",
        "     image digest:  jq -r '.subject[].digest.sha256' payload",
        "",
        "   Pairs in this bundle:",
        f"     ENVELOPE={EVIDENCE_SIGNATURE}",
        f"     KEY={portal.public_key}",
        f"       the portal's signature of {EVIDENCE} (key id {portal.key_id},",
        f"       certificate {portal.certificate})",
    ]
    for s in pairs:
        lines += _pair_lines(s)
    lines += [
        "",
        "2. A Sigstore bundle (cosign, or sigstore-python)",
        "",
    ]
    if bundles:
        lines += [
            "   A provenance in a Sigstore bundle (a DSSE envelope inside), with",
            "   the identity and issuer verdicts.json names for it; the statement's",
            "   subject (the image) is checked apart from the signature:",
            "     cosign verify-blob-attestation --bundle BUNDLE \\",
            f"       --new-bundle-format --trusted-root {TRUST_ROOT} \\",
            "       --certificate-identity IDENTITY \\",
            "       --certificate-oidc-issuer ISSUER --check-claims=false",
            "     jq -r .dsseEnvelope.payload BUNDLE | base64 -d | jq .subject",
            "   A bundle signing a file (a message signature), by sigstore-python,",
            "   offline against the public-good root it ships (another root:",
            "   --trust-config):",
            "     python -m sigstore verify identity --offline --bundle BUNDLE \\",
            "       --cert-identity IDENTITY --cert-oidc-issuer ISSUER FILE",
            "",
            "   Bundles in this bundle:",
        ]
        lines += [f"     {s.signature or s.document}" for s in bundles]
    else:
        lines.append("   None in this bundle.")
    lines += [
        "",
        "The payload types the portal signs with: application/json (its own",
        f"statements), {IN_TOTO_PAYLOAD_TYPE} (the publisher's).",
        "",
    ]
    return "\n".join(lines)


def contents_lines(written: list[str]) -> list[str]:
    """The README's Contents lines for the signatures."""
    if EVIDENCE_SIGNATURE not in written:
        return []
    return [
        f"  {EVIDENCE_SIGNATURE}",
        f"                    the portal's DSSE signature of {EVIDENCE}",
        f"  {FOLDER}       the signature verdicts, the signers' public keys and",
        "                    how to check them offline (signatures/VERIFY.txt);",
        "                    a document's own detached signature is beside it",
        f"                    as <document>{SIGNATURE_SUFFIX}",
    ]
