"""Documents attached before subjects were checked, read again: any whose own
subject names another image than the build it is attached to (what the
evidence door refuses today) is reported by ``manage.py ledger_check``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.core.exceptions import ValidationError

from .formats.subject import StatedSubject
from .models import Attestation


def _sbom(content: bytes) -> StatedSubject:
    from apps.vulns.formats.sbom import sbom_parse

    return sbom_parse(content).subject


def _provenance(content: bytes) -> StatedSubject:
    from .evidence import provenance_parse

    return provenance_parse(content).subject


def _fips(content: bytes) -> StatedSubject:
    from apps.fips.attestations import fips_attestation_parse

    return fips_attestation_parse(content).subject


def _stig(content: bytes) -> StatedSubject:
    from apps.stig.services import stig_document_read

    return stig_document_read(content).subject


READERS: dict[str, Callable[[bytes], StatedSubject]] = {
    Attestation.Kind.SBOM_CYCLONEDX: _sbom,
    Attestation.Kind.SBOM_SPDX: _sbom,
    Attestation.Kind.SLSA_PROVENANCE: _provenance,
    Attestation.Kind.FIPS: _fips,
    Attestation.Kind.STIG_SCAN: _stig,
}


@dataclass(frozen=True)
class Mismatch:
    attestation: Attestation
    named: tuple[str, ...]  # the digests the document names, or a read error


def unchecked_subject_mismatches() -> Iterator[Mismatch]:
    """Each attestation stored before the subject check whose document names
    other digests only. One document in memory at a time."""
    rows = (
        Attestation.objects.filter(
            subject_status=Attestation.Subject.UNCHECKED, kind__in=list(READERS)
        )
        .select_related("digest")
        .order_by("pk")
    )
    for attestation in rows.iterator(chunk_size=100):
        with attestation.document.open("rb") as stored:
            content = stored.read()
        try:
            subject = READERS[attestation.kind](content)
        except ValidationError as exc:
            yield Mismatch(attestation, (f"unreadable: {' '.join(exc.messages)}",))
            continue
        if subject.stated and attestation.digest.digest not in subject.digests:
            yield Mismatch(attestation, tuple(sorted(subject.digests)))
