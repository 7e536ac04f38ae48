"""SBOMs in: a CycloneDX or SPDX document attached to a build, its components
recorded (one statement per batch), and what it teaches about source packages.

One document is one transaction. Everything that can refuse a document (size,
JSON, format, schema, purls, subjects) runs before the first write, so a refused
document leaves no row and no stored file behind. Whether the document's own
subject is the build is decided where it is stored
(``apps.catalog.services.attestation_store``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from django.db import connection, transaction

from apps.catalog.models import Attestation, ImageDigest
from apps.catalog.services import SubjectOverride, attestation_store
from apps.core.bulk import bulk_insert, bulk_set
from apps.vulns.formats.sbom import sbom_parse
from apps.vulns.formats.sbom_parsed import CYCLONEDX, SbomComponent
from apps.vulns.models import Component, DigestComponent

SBOM_KINDS = {
    CYCLONEDX: Attestation.Kind.SBOM_CYCLONEDX,
    "spdx": Attestation.Kind.SBOM_SPDX,
}


@dataclass(frozen=True)
class SbomImportResult:
    """What an SBOM import stored; ``created`` is False for a repeat (a no-op)."""

    attestation: Attestation
    created: bool
    format: str
    spec_version: str
    components: int
    components_created: int
    links_created: int
    skipped_without_purl: int
    subject: str
    # Other builds sharing a component whose source package this SBOM was the
    # first to state: they are matched again too.
    rematch: tuple[int, ...] = ()
    # Where the document departs from its schema in fields the portal does
    # not read (grouped); kept with the attestation.
    warnings: tuple[str, ...] = ()


@transaction.atomic
def sbom_import(
    *,
    image: ImageDigest,
    content: bytes,
    subject_override: SubjectOverride | None = None,
) -> SbomImportResult:
    """Attach a CycloneDX or SPDX SBOM to a digest and record its components.

    An SBOM whose own subject names another image is refused (unless staff
    override). The same bytes again are a no-op; another SBOM of the same
    digest adds the components it names that the digest did not have yet.
    """
    parsed = sbom_parse(content)
    attestation, created = attestation_store(
        image=image,
        kind=SBOM_KINDS[parsed.format],
        content=content,
        subject=parsed.subject,
        subject_override=subject_override,
        spec_version=parsed.spec_version,
        media_type=parsed.media_type,
        summary=parsed.summary,
        warnings=[warning.as_dict() for warning in parsed.warnings],
    )
    components_created = links_created = 0
    rematch: tuple[int, ...] = ()
    if created:
        try:
            components_created, links_created, rematch = _components_attach(
                image=image, attestation=attestation, components=parsed.components
            )
        except BaseException:
            # The rows roll back with the transaction; the file would not.
            attestation.document.delete(save=False)
            raise
    return SbomImportResult(
        attestation=attestation,
        created=created,
        format=parsed.format,
        spec_version=parsed.spec_version,
        components=len(parsed.components),
        components_created=components_created,
        links_created=links_created,
        skipped_without_purl=parsed.without_purl,
        subject=attestation.subject_status,
        rematch=rematch,
        warnings=tuple(warning["message"] for warning in attestation.warnings),
    )


# SbomComponent attributes stored as the Component columns of the same name.
COMPONENT_FIELDS = (
    "purl",
    "purl_sha256",
    "type",
    "namespace",
    "name",
    "version",
    "source_name",
    "source_version",
    "source_known",
    "distro",
    "licenses",
)


def _components_attach(
    *,
    image: ImageDigest,
    attestation: Attestation,
    components: Sequence[SbomComponent],
) -> tuple[int, int, tuple[int, ...]]:
    """Upsert components and link them to the digest in a fixed number of queries.

    Returns (components created, links created, other builds to match again).
    Counts are what this import inserted; a concurrent import of the same
    packages may win some of them.
    """
    if not components:
        return 0, 0, ()
    found, sources = _component_ids(
        [c.purl_sha256 for c in components]
        + [c.former_sha256 for c in components if c.former_sha256]
    )
    ids: dict[str, int] = {}
    for c in components:
        # A row stored under the package URL's former name serves, unless
        # one under its present name exists.
        hit = c.purl_sha256 if c.purl_sha256 in found else c.former_sha256
        if hit in found:
            ids[c.purl_sha256] = found[hit]
            sources[c.purl_sha256] = sources[hit]
    missing = [c for c in components if c.purl_sha256 not in ids]
    if missing:
        inserted = bulk_insert(
            Component,
            COMPONENT_FIELDS,
            [[getattr(c, name) for name in COMPONENT_FIELDS] for c in missing],
            returning=("purl_sha256", "id"),
        )
        ids.update(inserted)
        # A concurrent import may insert the same purl first; its row serves.
        if len(ids) < len(components):
            ids |= _component_ids(
                c.purl_sha256 for c in missing if c.purl_sha256 not in ids
            )[0]
    rematch = _sources_learned(
        [
            (c, ids[c.purl_sha256])
            for c in components
            if _source_news(c, sources.get(c.purl_sha256))
        ],
        image=image,
    )
    links = _links_insert(image, attestation, sorted(set(ids.values())))
    return len(missing), links, rematch


def _links_insert(
    image: ImageDigest, attestation: Attestation, component_ids: list[int]
) -> int:
    """Link components to the digest, skipping links it has; how many were new."""
    rows = [(image.pk, pk, attestation.pk) for pk in component_ids]
    fields = ("digest_id", "component_id", "attestation_id")
    if connection.vendor == "postgresql":
        return len(bulk_insert(DigestComponent, fields, rows, returning=("id",)))
    linked = set(
        DigestComponent.objects.filter(digest=image).values_list(
            "component_id", flat=True
        )
    )
    bulk_insert(DigestComponent, fields, [r for r in rows if r[1] not in linked])
    return sum(1 for r in rows if r[1] not in linked)


def _source_news(
    component: SbomComponent, stored: tuple[str, str, bool] | None
) -> bool:
    """Does this document tell more of a stored component's source package?

    It does when the row's source is unknown and this document's is known,
    or when this document names the source itself and the row says otherwise
    (an earlier SBOM left it to inference: the binary's own name).
    """
    if stored is None:
        return False
    name, version, known = stored
    if not known:
        return component.source_known
    return component.source_stated and (name, version) != (
        component.source_name,
        component.source_version,
    )


def _sources_learned(
    learned: Sequence[tuple[SbomComponent, int]], *, image: ImageDigest
) -> tuple[int, ...]:
    """Give stored components the source package this SBOM states for them.

    A component is one package URL whoever lists it; the first SBOM to list a
    distro binary may not have said what it was built from. A later one that
    does completes the row, so matching (run after every import) looks for
    its advisories under the source package from then on. Returns the other
    builds carrying those components, to be matched again.
    """
    if not learned:
        return ()
    bulk_set(
        Component,
        ["source_name", "source_version", "source_known"],
        [(pk, c.source_name, c.source_version, True) for c, pk in learned],
    )
    return tuple(
        sorted(
            set(
                DigestComponent.objects.filter(
                    component_id__in=[pk for _, pk in learned]
                )
                .exclude(digest=image)
                .values_list("digest_id", flat=True)
            )
        )
    )


_COMPONENT_TABLE = Component._meta.db_table
_COMPONENT_IDS_SQL = (
    "SELECT purl_sha256, id, source_name, source_version, source_known "  # noqa: S608
    f"FROM {_COMPONENT_TABLE} "
    "WHERE purl_sha256 = ANY(%s)"
)


def _component_ids(
    hashes: Iterable[str],
) -> tuple[dict[str, int], dict[str, tuple[str, str, bool]]]:
    """Ids of the components stored, by purl hash, and what each row says of
    its source package: (source name, source version, known)."""
    found: dict[str, int] = {}
    sources: dict[str, tuple[str, str, bool]] = {}
    for batch in _batches(list(hashes)):
        if connection.vendor == "postgresql":
            # One array parameter rather than one per hash.
            with connection.cursor() as cursor:
                cursor.execute(_COMPONENT_IDS_SQL, [batch])
                rows: Iterable = cursor.fetchall()
        else:
            rows = Component.objects.filter(purl_sha256__in=batch).values_list(
                "purl_sha256", "id", "source_name", "source_version", "source_known"
            )
        for sha256, pk, name, version, known in rows:
            found[sha256] = pk
            sources[sha256] = (name, version, known)
    return found, sources


def _batches(items: list[str]) -> Iterator[list[str]]:
    # SQLite allows 999 parameters a query; PostgreSQL has no such cap.
    size = connection.features.max_query_params or 10_000
    for start in range(0, len(items), size):
        yield items[start : start + size]
