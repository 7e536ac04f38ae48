"""SLSA provenance attached to a build (a bare in-toto statement or a DSSE
envelope), one document per transaction."""

from __future__ import annotations

from django.db import transaction

from .formats.intoto import provenance_parse
from .models import Attestation, ImageDigest
from .services import SubjectOverride, attestation_store


@transaction.atomic
def provenance_import(
    *,
    image: ImageDigest,
    content: bytes,
    subject_override: SubjectOverride | None = None,
) -> Attestation:
    """Attach SLSA provenance (bare statement or DSSE envelope) to a digest.

    The digest must be one of the statement's subjects (unless staff
    override). Signatures are recorded here by key id; the evidence door
    checks them (``apps.evidence.ingest.evidence_signature_check``).
    """
    provenance = provenance_parse(content)
    attestation, _ = attestation_store(
        image=image,
        kind=Attestation.Kind.SLSA_PROVENANCE,
        content=content,
        subject=provenance.subject,
        subject_override=subject_override,
        spec_version=provenance.spec_version,
        media_type=provenance.media_type,
        signer_key_id=provenance.signer_key_id,
        summary=provenance.summary,
    )
    return attestation
