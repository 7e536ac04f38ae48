"""Documents attached before subjects were checked, read again: any whose own
subject names another image than the build it is attached to (what the
evidence door refuses today) is reported by ``manage.py ledger_check``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.core.exceptions import ValidationError

from apps.catalog.models import Attestation

from .registry import subject_readers


@dataclass(frozen=True)
class Mismatch:
    attestation: Attestation
    named: tuple[str, ...]  # the digests the document names, or a read error


def unchecked_subject_mismatches() -> Iterator[Mismatch]:
    """Each attestation stored before the subject check whose document names
    other digests only. One document in memory at a time."""
    readers = subject_readers()
    rows = (
        Attestation.objects.filter(
            subject_status=Attestation.Subject.UNCHECKED, kind__in=list(readers)
        )
        .select_related("digest")
        .order_by("pk")
    )
    for attestation in rows.iterator(chunk_size=100):
        with attestation.document.open("rb") as stored:
            content = stored.read()
        try:
            subject = readers[attestation.kind](content)
        except ValidationError as exc:
            yield Mismatch(attestation, (f"unreadable: {' '.join(exc.messages)}",))
            continue
        if subject.stated and attestation.digest.digest not in subject.digests:
            yield Mismatch(attestation, tuple(sorted(subject.digests)))
