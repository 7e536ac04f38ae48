"""The portal's own statements, signed: what it serves (its OpenVEX and
CycloneDX VEX exports, a report's evidence JSON) can be fetched as a DSSE
envelope whose payload is the exact bytes served, signed over its
pre-authentication encoding by the report-signing key (``signing``) and naming
that key's id; and such an envelope is checked against the portal's recorded
keys (``manage.py verify_evidence``).

Signing and checking are the evidence verifier's (``apps.catalog.formats``):
the portal's keys are handed to it as ``Signer`` values built from the
recorded certificates, so a statement signed before a key rotation still
verifies while its certificate is valid.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from cryptography import x509
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.utils import timezone

from apps.catalog.formats.dsse import envelope_json, pae
from apps.catalog.formats.keys import CERTIFICATE_CURVES, public_key_from, sign
from apps.catalog.formats.signatures import payload_envelope_verify
from apps.catalog.formats.verdict import VERIFIED, Signer, Verdict

from .models import SigningKey
from .signing import signing_key_pair

DSSE_MEDIA_TYPE = "application/vnd.dsse.envelope.v1+json"
# The query parameter that asks for the signed form, and the one form offered.
SIGNATURE_PARAM = "signature"
SIGNATURE_DSSE = "dsse"


def signature_wanted(params: Mapping[str, str]) -> bool:
    """Whether a request asks for the DSSE-signed form (``?signature=dsse``);
    any other value is refused, naming the one taken."""
    if SIGNATURE_PARAM not in params:
        return False
    value = params.get(SIGNATURE_PARAM)
    if value != SIGNATURE_DSSE:
        raise ValidationError(
            {
                SIGNATURE_PARAM: f'"{SIGNATURE_DSSE}" is the one signature offered: '
                "a DSSE envelope whose payload is the document, signed by the "
                "portal's key."
            }
        )
    return True


def statement_sign(payload: bytes, *, payload_type: str) -> bytes:
    """``payload`` in a DSSE envelope signed by the portal's current key,
    the signature naming the key's id (``sha256:`` and the SHA-256 of its
    certificate)."""
    pair = signing_key_pair()
    sig = sign(pair.key, pae(payload_type, payload))
    return envelope_json(
        payload_type=payload_type, payload=payload, signatures=[(pair.row.key_id, sig)]
    )


def signed_response(
    payload: bytes, *, payload_type: str, filename: str = ""
) -> HttpResponse:
    """The answer for ``?signature=dsse``: the envelope, with the SHA-256 of
    the payload it carries."""
    response = HttpResponse(
        statement_sign(payload, payload_type=payload_type),
        content_type=DSSE_MEDIA_TYPE,
    )
    response["X-Content-SHA256"] = hashlib.sha256(payload).hexdigest()
    if filename:
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def portal_signer(row: SigningKey) -> Signer:
    """A recorded portal key as the verifier takes it: the public key of its
    certificate, trusted for the certificate's validity."""
    certificate = x509.load_pem_x509_certificate(row.certificate_pem.encode())
    return Signer(
        id=row.pk,
        name=f"the portal's key {row.key_id} ({row.subject})",
        public_key=public_key_from(certificate.public_key(), curves=CERTIFICATE_CURVES),
        key_id=row.key_id,
        not_before=row.not_before,
        not_after=row.not_after,
    )


def portal_signers() -> list[Signer]:
    """Every key the portal has signed with, retired ones too."""
    return [portal_signer(row) for row in SigningKey.objects.order_by("pk")]


@dataclass(frozen=True)
class StatementCheck:
    """What checking a file against a portal signature concluded."""

    sha256: str
    verdict: Verdict
    key_id: str = ""
    payload_type: str = ""

    @property
    def valid(self) -> bool:
        return self.verdict.status == VERIFIED


def statement_verify(
    document: bytes, signature: bytes, *, now: datetime | None = None
) -> StatementCheck:
    """Is ``signature`` a DSSE envelope carrying ``document`` byte for byte,
    signed by a key the portal recorded and whose certificate is valid now?"""
    verdict = payload_envelope_verify(
        document=document,
        signature=signature,
        signers=portal_signers(),
        received_at=now or timezone.now(),
    )
    key_id = ""
    payload_type = ""
    if verdict.signer is not None:
        key_id = verdict.signer.key_id
    if verdict.status == VERIFIED and verdict.signer is not None:
        payload_type = _payload_type(signature)
        until = verdict.signer.not_after
        verdict = replace(
            verdict,
            message=f"Signed by {verdict.signer.name}, whose certificate is valid "
            f"until {until:%Y-%m-%d}; the payload is this file, byte for byte."
            if until
            else f"Signed by {verdict.signer.name}; the payload is this file, "
            "byte for byte.",
        )
    return StatementCheck(
        sha256=hashlib.sha256(document).hexdigest(),
        verdict=verdict,
        key_id=key_id,
        payload_type=payload_type,
    )


def _payload_type(signature: bytes) -> str:
    from apps.catalog.formats.document import document_loads

    try:
        obj = document_loads(signature)
    except ValidationError:
        return ""
    value = obj.get("payloadType") if isinstance(obj, dict) else ""
    return value if isinstance(value, str) else ""
