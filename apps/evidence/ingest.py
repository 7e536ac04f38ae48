"""One door for evidence: the staff upload form and the API both come through here.

Each kind goes to the importer its app registered (``registry``: SBOM, VEX, OSV
and KEV from vulns, provenance from the catalog, STIG scans and FIPS attestations
from their apps), which validates the whole document before writing anything, in
one transaction. This layer adds
what every door needs: the size limit before anything is read, the digest
lookup, the audit record, and queueing the matching of findings afterwards.
Whether a document's own subject is the build is decided where every importer
stores it (``services.attestation_store``); a staff override of that check,
with its reason, is passed down from here and kept in the audit record.

Every document attached to a build has its signature checked here, its own
(a DSSE envelope, a Sigstore bundle) or a detached one given with it, and the
verdict kept with it; ``EVIDENCE_SIGNATURE_REFUSE`` names the verdicts that
refuse the document instead (by default an invalid signature: unsigned and
untrusted documents are stored and shown as such).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.http import HttpRequest

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.catalog.formats.verdict import CHECK_SUBJECT, Verdict
from apps.catalog.models import Attestation, ImageDigest
from apps.catalog.services import (
    SubjectOverride,
    normalize_digest,
    subject_override_check,
)
from apps.catalog.signatures import (
    attestation_signature_record,
    attestation_signature_verify,
)

from .registry import importer_for


class EvidenceKind(models.TextChoices):
    SBOM = "sbom", "SBOM (CycloneDX or SPDX JSON)"
    PROVENANCE = "provenance", "SLSA provenance (in-toto statement or DSSE envelope)"
    VEX = "vex", "VEX (OpenVEX or CycloneDX VEX)"
    OSV = "osv", "OSV advisories (one record, a JSON array, or a zip)"
    KEV = "kev", "CISA KEV catalog"
    STIG = "stig", "STIG scan (XCCDF 1.2 results, ARF, or a .ckl/.cklb checklist)"
    FIPS = "fips", "FIPS attestation (the crypto modules a build carries)"


NEEDS_DIGEST = frozenset(
    {EvidenceKind.SBOM, EvidenceKind.PROVENANCE, EvidenceKind.STIG, EvidenceKind.FIPS}
)
# A Sigstore bundle or DSSE envelope is a few kilobytes (certificates, a log
# entry, timestamps); a megabyte is no signature.
SIGNATURE_MAX_BYTES = 1_048_576

_REFUSALS = {
    Attestation.SignatureStatus.UNVERIFIED: "this portal takes signed evidence only",
    Attestation.SignatureStatus.INVALID: "its signature is invalid",
    Attestation.SignatureStatus.UNTRUSTED: "its signer is not trusted",
}


def _image(digest: str) -> ImageDigest:
    name = normalize_digest(digest)
    image = ImageDigest.objects.filter(digest=name).first()
    if image is None:
        raise ValidationError(
            {"digest": f"No image {name} in the catalog; register the build first."}
        )
    return image


def _summary(result: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(result):
        fields = {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}
        return {k: v for k, v in fields.items() if isinstance(v, str | int | bool)}
    return {"id": getattr(result, "pk", None)}


_SUBJECTS = dict(Attestation.Subject.choices)
_FORMATS = {"cyclonedx": "CycloneDX", "spdx": "SPDX"}


_SIGNATURE_KEYS = ("signature", "signature_message", "signature_signer")


def summary_text(kind: str, summary: dict[str, Any]) -> str:
    """What an import stored, in a sentence for the person who uploaded it,
    and what its signature check concluded."""
    text = _stored_text(kind, summary)
    if summary.get("signature_message"):
        text += f" Signature: {summary['signature_message']}"
    return text


def _stored_text(kind: str, summary: dict[str, Any]) -> str:
    s = summary
    if kind == EvidenceKind.SBOM and "components" in s:
        if not s.get("created", True):
            return "This SBOM was already attached to the build; nothing changed."
        text = (
            f"Attached a {_FORMATS.get(s.get('format'), s.get('format'))} "
            f"{s.get('spec_version', '')} SBOM: {s['components']} components "
            f"({s.get('components_created', 0)} new to the catalog, "
            f"{s.get('links_created', 0)} new to this build)"
        )
        if s.get("skipped_without_purl"):
            text += f", {s['skipped_without_purl']} without a package URL skipped"
        if s.get("subject"):
            text += f". Subject: {_SUBJECTS.get(s['subject'], s['subject'])}"
        return text + "."
    if kind == EvidenceKind.OSV and "records" in s:
        return (
            f"{s['records']} OSV records: {s.get('created', 0)} new, "
            f"{s.get('updated', 0)} updated, {s.get('unchanged', 0)} unchanged; "
            f"{s.get('affected_packages', 0)} affected packages written."
        )
    parts = []
    for key, value in s.items():
        if key in ("kind", "created", *_SIGNATURE_KEYS) or value == "":
            continue  # an empty value says nothing
        if key == "subject":
            value = _SUBJECTS.get(value, value)
        parts.append(f"{key.replace('_', ' ')}: {value}")
    return "; ".join(parts) + "." if parts else "Stored."


def _attestation_of(result: Any) -> Attestation | None:
    """The attestation an importer stored (SBOM, provenance, STIG, FIPS)."""
    if isinstance(result, Attestation):
        return result
    attestation = getattr(result, "attestation", None)
    if isinstance(attestation, Attestation):
        return attestation
    pk = getattr(result, "attestation_id", None)
    return Attestation.objects.filter(pk=pk).first() if pk else None


def signature_input_check(signature: bytes | None, kind: str) -> None:
    """A detached signature given with a document: for a kind attached to a
    build, not empty, not huge."""
    if signature is None:
        return
    if kind not in NEEDS_DIGEST:
        raise ValidationError(
            {
                "signature": "Only a document attached to a build (SBOM, provenance, "
                "STIG scan, FIPS attestation) is checked against a signature."
            }
        )
    if not signature.strip():
        raise ValidationError({"signature": "The signature file is empty."})
    if len(signature) > SIGNATURE_MAX_BYTES:
        raise ValidationError(
            {
                "signature": f"The signature file is {len(signature)} bytes; a "
                f"signature is at most {SIGNATURE_MAX_BYTES}."
            }
        )


def evidence_signature_check(
    *,
    attestation: Attestation,
    content: bytes,
    signature: bytes | None = None,
    overridden: bool = False,
    refuse: Collection[str] | None = None,
) -> Verdict:
    """Check the signature of a document just attached and keep the verdict
    with it, or refuse the document when ``refuse`` (by default
    ``EVIDENCE_SIGNATURE_REFUSE``) names the verdict (a ValidationError: the
    importing transaction writes nothing).

    A statement signed about another image is invalid for this build; with a
    staff subject override it is stored and flagged instead of refused. Call in
    the importing transaction, after the importer.
    """
    if signature is None and attestation.signature_file:
        with attestation.signature_file.open("rb") as handle:
            signature = handle.read()
        kept = True
    else:
        kept = False
    verdict = attestation_signature_verify(
        attestation=attestation, content=content, signature=signature
    )
    refused = set(settings.EVIDENCE_SIGNATURE_REFUSE if refuse is None else refuse)
    if verdict.status in refused and not (
        overridden and verdict.check == CHECK_SUBJECT
    ):
        field = "signature" if signature is not None and not kept else "document"
        raise ValidationError(
            {
                field: ValidationError(
                    f"Refused because {_REFUSALS[verdict.status]}: {verdict.message}",
                    code=f"signature_{verdict.status}",
                )
            }
        )
    attestation_signature_record(
        attestation=attestation,
        verdict=verdict,
        signature=None if kept else signature,
    )
    return verdict


def _signature_details(attestation: Attestation) -> dict[str, Any]:
    """What the audit record and the import's answer keep of the verdict."""
    details: dict[str, Any] = {
        "signature": attestation.signature_status,
        "signature_message": attestation.signature_message,
    }
    if attestation.signature_signer_id:
        details["signature_signer"] = attestation.signature_signer.name
    return details


def _subject_details(attestation: Attestation) -> dict[str, Any]:
    """What the audit record keeps of the subject check."""
    details: dict[str, Any] = {"subject": attestation.subject_status}
    if attestation.subject_digests:
        details["subject_digests"] = attestation.subject_digests
    if attestation.subject_named:
        details["subject_named"] = attestation.subject_named
    if attestation.subject_status == Attestation.Subject.OVERRIDDEN:
        details["subject_override_reason"] = attestation.subject_override_reason
        by = attestation.subject_override_by
        details["subject_override_by"] = by.email if by is not None else ""
    return details


def evidence_recorded(
    *,
    kind: str,
    result: Any,
    image: ImageDigest | None = None,
    actor=None,
    request: HttpRequest | None = None,
    source: str = "",
) -> dict[str, Any]:
    """Write the audit record of one import; every door calls this after the
    importer, in the importer's transaction. Returns the recorded summary."""
    summary = {"kind": kind, **_summary(result)}
    if image is not None:
        summary["digest"] = image.digest
        attestation = _attestation_of(result)
        if attestation is not None:
            summary.update(_subject_details(attestation))
            if attestation.signature_checked_at is not None:
                summary.update(_signature_details(attestation))
            if attestation.warnings:
                summary["warnings"] = [w["message"] for w in attestation.warnings]
    if source:
        summary["source"] = source
    audit_record(
        action=AuditEvent.Action.EVIDENCE_IMPORTED,
        actor=actor,
        request=request,
        details=summary,
    )
    return summary


def evidence_import(
    *,
    kind: str,
    content: bytes,
    digest: str = "",
    actor,
    request: HttpRequest | None = None,
    match: bool = True,
    subject_override_reason: str | None = None,
    signature: bytes | None = None,
    signature_refuse: Collection[str] | None = None,
) -> dict[str, Any]:
    """Import one document of a kind; returns a summary of what was stored.

    ``signature`` is a detached signature of the document (a Sigstore bundle,
    or a DSSE envelope whose statement names the document's SHA-256); without
    one, the document's own signature is checked (see
    ``evidence_signature_check``). ``signature_refuse`` names the verdicts
    that refuse the document instead of ``EVIDENCE_SIGNATURE_REFUSE``.

    ``subject_override_reason`` (publisher staff only, never blank) attaches
    a document whose own subject is another image; without it such a document
    is refused. ``match=False`` leaves matching to the caller, for bulk loads
    that match once at the end instead of once per document.
    """
    if kind not in EvidenceKind.values:
        raise ValidationError({"kind": f"Unknown kind of evidence {kind!r}."})
    override = None
    if subject_override_reason is not None:
        if kind not in NEEDS_DIGEST:
            raise ValidationError(
                {
                    "subject_override_reason": "Only a document attached to a build "
                    "(SBOM, provenance, STIG scan, FIPS attestation) has a subject "
                    "to override."
                }
            )
        override = SubjectOverride(reason=subject_override_reason, actor=actor)
        subject_override_check(override)
    limit = settings.EVIDENCE_MAX_BYTES
    if len(content) > limit:
        raise ValidationError(
            {"document": f"The document is {len(content)} bytes; the limit is {limit}."}
        )
    if not content.strip():
        raise ValidationError({"document": "The document is empty."})
    if kind in NEEDS_DIGEST and not digest:
        raise ValidationError({"digest": "Name the image digest this document is for."})
    signature_input_check(signature, kind)

    importer = importer_for(kind)
    with transaction.atomic():
        image = _image(digest) if kind in NEEDS_DIGEST else None
        result = importer.run(image=image, content=content, subject_override=override)
        attestation = _attestation_of(result) if image is not None else None
        if attestation is not None:
            evidence_signature_check(
                attestation=attestation,
                content=content,
                signature=signature,
                overridden=override is not None,
                refuse=signature_refuse,
            )
        summary = evidence_recorded(
            kind=kind, result=result, image=image, actor=actor, request=request
        )
        if match and importer.matches_after:
            from apps.vulns.tasks import findings_match_task

            digests = None
            if image is not None:
                digests = [image.pk, *getattr(result, "rematch", ())]
            transaction.on_commit(lambda: findings_match_task.delay(digest_ids=digests))
    return summary
