"""Reads of what may be said about builds' vulnerabilities, and on what
evidence (the states and their sentences are in ``assessment_states``).

An ecosystem is what matching looks in (``matching.component_ecosystem``): the
purl type, and for distribution packages the release; a source covers it when
its advisories have that purl type and a distro ``distro_matches`` accepts,
the same test matching applies to every advisory.

Every read here is a fixed number of queries for any number of builds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from django.db.models import Count, Exists, Max, OuterRef, Q

from apps.catalog.models import Attestation, ImageDigest

from ..matching import component_ecosystem
from ..models import AdvisoryImport, DigestComponent, Finding
from .assessment_states import (
    AdvisorySource,
    Assessment,
    BuildsAssessment,
    Ecosystem,
)

OPEN_STATUSES = (Finding.Status.AFFECTED, Finding.Status.UNDER_INVESTIGATION)
SBOM_KINDS = (Attestation.Kind.SBOM_CYCLONEDX, Attestation.Kind.SBOM_SPDX)
CHUNK = 500


def advisory_sources(*, as_of: datetime | None = None) -> list[AdvisorySource]:
    """The last OSV import of each ecosystem (at or before ``as_of``), by
    ecosystem name: one query."""
    imports = AdvisoryImport.objects.filter(feed=AdvisoryImport.Feed.OSV)
    if as_of is not None:
        imports = imports.filter(imported_at__lte=as_of)
    newer = imports.filter(
        ecosystem=OuterRef("ecosystem"),
        purl_type=OuterRef("purl_type"),
        distro=OuterRef("distro"),
    ).filter(
        Q(imported_at__gt=OuterRef("imported_at"))
        | Q(imported_at=OuterRef("imported_at"), pk__gt=OuterRef("pk"))
    )
    rows = imports.exclude(Exists(newer)).order_by("ecosystem", "purl_type", "distro")
    return [
        AdvisorySource(
            ecosystem=row.ecosystem,
            purl_type=row.purl_type,
            distro=row.distro,
            source=row.source,
            imported_at=row.imported_at,
            records=row.records_held,
            records_imported=row.records_imported,
        )
        for row in rows
    ]


def kev_last_import(*, as_of: datetime | None = None) -> AdvisoryImport | None:
    """The last CISA KEV catalog import (at or before ``as_of``)."""
    imports = AdvisoryImport.objects.filter(feed=AdvisoryImport.Feed.KEV)
    if as_of is not None:
        imports = imports.filter(imported_at__lte=as_of)
    return imports.order_by("-imported_at", "-pk").first()


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def digest_assessments(
    *,
    digest_ids: Iterable[int],
    as_of: datetime | None = None,
    sources: list[AdvisorySource] | None = None,
) -> dict[int, Assessment]:
    """The assessment of each build, by its id: four queries for a page of
    builds (ecosystems, SBOMs, sources, open vulnerabilities), whatever its
    length. ``as_of`` counts only sources imported by then (a report's
    cut-off); ``sources``, if already read, saves reading them again."""
    ids = sorted(set(digest_ids))
    if not ids:
        return {}
    evidence = _BuildEvidence()
    for chunk in _chunks(ids):
        evidence.read(chunk)
    if sources is None:
        sources = advisory_sources(as_of=as_of)
    covering: dict[tuple[str, str], tuple[AdvisorySource, ...]] = {}
    result = {}
    for digest_id in ids:
        ecosystems = []
        for key in sorted(evidence.counts.get(digest_id, {})):
            if key not in covering:
                covering[key] = tuple(s for s in sources if s.covers(*key))
            ecosystems.append(
                Ecosystem(
                    purl_type=key[0],
                    distro=key[1],
                    components=evidence.counts[digest_id][key],
                    sources=covering[key],
                    source_unknown=evidence.unknown[digest_id].get(key, 0)
                    if digest_id in evidence.unknown
                    else 0,
                )
            )
        result[digest_id] = evidence.assessment(digest_id, tuple(ecosystems))
    return result


class _BuildEvidence:
    """What builds' SBOMs and findings say, read a chunk of builds at a time
    (three queries per chunk)."""

    def __init__(self) -> None:
        # digest id -> ecosystem -> components (and those whose distro source
        # package is not stated)
        self.counts: defaultdict[int, defaultdict[tuple[str, str], int]] = defaultdict(
            lambda: defaultdict(int)
        )
        self.unknown: defaultdict[int, defaultdict[tuple[str, str], int]] = defaultdict(
            lambda: defaultdict(int)
        )
        self.with_sbom: set[int] = set()
        self.matched_at: dict[int, datetime | None] = {}
        self.sbom_at: dict[int, datetime] = {}
        self.open_counts: dict[int, int] = {}

    def read(self, chunk: list[int]) -> None:
        rows = (
            DigestComponent.objects.filter(digest_id__in=chunk)
            .values_list(
                "digest_id",
                "digest__matched_at",
                "component__type",
                "component__distro",
                "component__source_known",
            )
            .annotate(n=Count("id"))
            .order_by()
        )
        for digest_id, matched, type_, distro, known, n in rows:
            key = component_ecosystem(type=type_, distro=distro)
            self.counts[digest_id][key] += n
            if not known:
                self.unknown[digest_id][key] += n
            self.matched_at[digest_id] = matched
        sboms = (
            Attestation.objects.filter(digest_id__in=chunk, kind__in=SBOM_KINDS)
            .values_list("digest_id")
            .annotate(latest=Max("created_at"))
            .order_by()
        )
        for digest_id, latest in sboms:
            self.with_sbom.add(digest_id)
            self.sbom_at[digest_id] = latest
        self.open_counts.update(
            Finding.objects.filter(digest_id__in=chunk, status__in=OPEN_STATUSES)
            .values_list("digest_id")
            .annotate(n=Count("vulnerability_id", distinct=True))
            .order_by()
        )

    def assessment(
        self, digest_id: int, ecosystems: tuple[Ecosystem, ...]
    ) -> Assessment:
        """The build's assessment, given its ecosystems and their sources."""
        seen = [s.imported_at for e in ecosystems for s in e.sources]
        if digest_id in self.sbom_at:
            seen.append(self.sbom_at[digest_id])
        return Assessment(
            digest_id=digest_id,
            has_sbom=digest_id in self.with_sbom or digest_id in self.counts,
            ecosystems=ecosystems,
            open_vulnerabilities=self.open_counts.get(digest_id, 0),
            matched_at=self.matched_at.get(digest_id),
            evidence_at=max(seen, default=None),
        )


def digest_assessment(
    *, digest: ImageDigest, as_of: datetime | None = None
) -> Assessment:
    """One build's assessment (the bulk read for a single build)."""
    return digest_assessments(digest_ids=[digest.pk], as_of=as_of)[digest.pk]


def latest_build_ids(
    *, repository_ids: Iterable[int], built_before: datetime | None = None
) -> dict[int, list[int]]:
    """repository id -> the latest build of each of its variants (built
    before ``built_before``, if given): one query."""
    builds = ImageDigest.objects.filter(
        variant__series__repository_id__in=list(repository_ids)
    )
    if built_before is not None:
        builds = builds.filter(built_at__lt=built_before)
    newer = builds.filter(variant_id=OuterRef("variant_id")).filter(
        Q(built_at__gt=OuterRef("built_at"))
        | Q(built_at=OuterRef("built_at"), pk__gt=OuterRef("pk"))
    )
    found: dict[int, list[int]] = defaultdict(list)
    for pk, repository_id in (
        builds.exclude(Exists(newer))
        .order_by("pk")
        .values_list("pk", "variant__series__repository_id")
    ):
        found[repository_id].append(pk)
    return found


def repository_assessments(
    *, repository_ids: Iterable[int], as_of: datetime | None = None
) -> dict[int, BuildsAssessment]:
    """Per repository, the latest build of each variant, taken together:
    five queries for a page of repositories."""
    repository_ids = list(repository_ids)
    latest = latest_build_ids(repository_ids=repository_ids, built_before=as_of)
    assessments = digest_assessments(
        digest_ids=[pk for pks in latest.values() for pk in pks], as_of=as_of
    )
    return {
        repository_id: BuildsAssessment(
            tuple(assessments[pk] for pk in latest.get(repository_id, []))
        )
        for repository_id in repository_ids
    }


def builds_assessment(assessments: Iterable[Assessment]) -> BuildsAssessment:
    """Builds already assessed, taken together (no query)."""
    return BuildsAssessment(tuple(assessments))


# --------------------------------------------------------------------------
# As JSON, for the API and report evidence
# --------------------------------------------------------------------------


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def source_json(source: AdvisorySource) -> dict:
    return {
        "name": source.name,
        "ecosystem": source.ecosystem,
        "imported_at": _ts(source.imported_at),
        "records": source.records,
        "records_in_last_import": source.records_imported,
        "imported_from": source.source,
    }


def assessment_json(assessment: Assessment) -> dict:
    """The assessment as JSON values, in a stable order."""
    return {
        "state": assessment.state,
        "text": assessment.text,
        "has_sbom": assessment.has_sbom,
        "open_vulnerabilities": assessment.stated_open,
        "ecosystems": [
            {
                "ecosystem": e.key,
                "label": e.label,
                "components": e.components,
                "covered": e.covered,
                "matched_by_binary_name_only": e.source_unknown,
                "sources": [source_json(s) for s in e.sources],
            }
            for e in assessment.ecosystems
        ],
    }


def advisory_sources_json(assessments: Iterable[Assessment]) -> list[dict]:
    """Every source the builds were assessed against, once, per ecosystem it
    covers in them: what a report names as its advisory sources."""
    covers: dict[str, set[str]] = defaultdict(set)
    found: dict[str, AdvisorySource] = {}
    for assessment in assessments:
        for ecosystem in assessment.ecosystems:
            for source in ecosystem.sources:
                found[source.ecosystem] = source
                covers[source.ecosystem].add(ecosystem.key)
    return [
        {**source_json(found[name]), "covers": sorted(covers[name])}
        for name in sorted(found)
    ]


def kev_json(row: AdvisoryImport | None) -> dict | None:
    if row is None:
        return None
    return {
        "name": row.get_feed_display(),
        "catalog_version": row.version,
        "imported_at": _ts(row.imported_at),
        "entries": row.records_imported,
        "flagged": row.records_held,
        "imported_from": row.source,
    }
