"""The kinds of evidence the door takes, and who imports each.

The door (``ingest``) knows the kinds by name and what every door needs (size
limit, digest lookup, audit record, matching afterwards); the app that owns a
kind registers its importer here at ready(): the catalog's and vulns' kinds by
this app (they sit below it), STIG scans and FIPS attestations by their own
apps (above it). So the door never imports the apps above it.

Each importer takes ``image`` (the build, for the kinds the door attaches to
one, ``ingest.NEEDS_DIGEST``, else None),
``content`` (the document's bytes) and ``subject_override``, validates the
whole document before writing anything and writes in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from apps.catalog.formats.subject import StatedSubject


@dataclass(frozen=True)
class Importer:
    kind: str
    run: Callable[..., Any]
    # Documents of this kind can add findings: match them after the import.
    matches_after: bool = False
    # The attestation kinds this importer stores, each with the reader of a
    # stored document's own subject (for ``subject_recheck``).
    subject_readers: Mapping[str, Callable[[bytes], StatedSubject]] = field(
        default_factory=dict
    )


_importers: dict[str, Importer] = {}


def register(importer: Importer) -> None:
    """Register (or replace, for tests) the importer of one kind."""
    _importers[importer.kind] = importer


def importer_for(kind: str) -> Importer:
    try:
        return _importers[kind]
    except KeyError:
        raise ImproperlyConfigured(
            f"No importer is registered for evidence of kind {kind!r}."
        ) from None


def subject_readers() -> dict[str, Callable[[bytes], StatedSubject]]:
    """Attestation kind -> the reader of its document's own subject."""
    readers: dict[str, Callable[[bytes], StatedSubject]] = {}
    for importer in _importers.values():
        readers.update(importer.subject_readers)
    return readers
