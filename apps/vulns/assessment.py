"""What may be said about a build's vulnerabilities, and on what evidence.

"No known vulnerabilities" is said of a build only when it is *assessed*: it
has an SBOM, and every ecosystem its components come from is covered by an
advisory source that was imported (an AdvisoryImport row). Otherwise the build
is *not assessed* (no SBOM, or an SBOM without package URLs) or *partially
assessed* (some ecosystem has no source), and pages, API and reports say so
instead of a count of zero.

An ecosystem is what matching looks in (``matching.component_ecosystem``): the
purl type, and for distribution packages the release; a source covers it when
its advisories have that purl type and a distro ``distro_matches`` accepts,
the same test matching applies to every advisory.

Every read here is a fixed number of queries for any number of builds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db.models import Count, Exists, Max, OuterRef, Q

from apps.catalog.models import Attestation, ImageDigest

from .matching import component_ecosystem, distro_matches
from .models import AdvisoryImport, DigestComponent, Finding
from .osv import DISTRO_TYPES, ECOSYSTEM_PURL_TYPES

NOT_ASSESSED = "not_assessed"
PENDING = "pending"
PARTIAL = "partial"
ASSESSED = "assessed"
STATE_LABELS = {
    NOT_ASSESSED: "Not assessed",
    PENDING: "Assessment pending",
    PARTIAL: "Partially assessed",
    ASSESSED: "Assessed",
}
# Badge tones of the pages' stylesheet.
STATE_TONES = {NOT_ASSESSED: "warn", PENDING: "warn", PARTIAL: "warn", ASSESSED: "ok"}
OPEN_STATUSES = (Finding.Status.AFFECTED, Finding.Status.UNDER_INVESTIGATION)
SBOM_KINDS = (Attestation.Kind.SBOM_CYCLONEDX, Attestation.Kind.SBOM_SPDX)
# OSV's name for a purl type whose advisories are not per distribution.
_OSV_NAMES = {
    purl_type: name
    for name, purl_type in ECOSYSTEM_PURL_TYPES.items()
    if purl_type not in DISTRO_TYPES
}
CHUNK = 500


def when(value: datetime) -> str:
    """``2026-03-02 09:00 UTC``: how an import time is written in texts."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class AdvisorySource:
    """The last import of one OSV ecosystem's advisories (as of a time)."""

    ecosystem: str  # as the records name it: "Ubuntu:22.04:LTS", "PyPI"
    purl_type: str
    distro: str
    source: str  # what was imported, when known
    imported_at: datetime
    records: int  # records of the ecosystem held after that import
    records_imported: int

    @property
    def name(self) -> str:
        return f"OSV {self.ecosystem}"

    @property
    def text(self) -> str:
        return f"{self.name} as of {when(self.imported_at)}"

    def covers(self, purl_type: str, distro: str) -> bool:
        return self.purl_type == purl_type and distro_matches(self.distro, distro)


@dataclass(frozen=True)
class Ecosystem:
    """The components of a build from one ecosystem, and who covers it."""

    purl_type: str
    distro: str
    components: int
    sources: tuple[AdvisorySource, ...]
    # Distro binaries whose SBOM did not state their source package: matched
    # by their own name, which misses advisories filed under the source.
    source_unknown: int = 0

    @property
    def key(self) -> str:
        return f"{self.purl_type}/{self.distro}" if self.distro else self.purl_type

    @property
    def label(self) -> str:
        """``PyPI``, ``alpine-3.19.1 (apk)``, ``deb (release not named)``."""
        if self.purl_type in DISTRO_TYPES:
            if self.distro:
                return f"{self.distro} ({self.purl_type})"
            return f"{self.purl_type} (release not named)"
        return _OSV_NAMES.get(self.purl_type, self.purl_type)

    @property
    def covered(self) -> bool:
        return bool(self.sources)


def _sources_text(sources: Iterable[AdvisorySource]) -> str:
    return ", ".join(s.text for s in sources)


def _missing_text(ecosystems: Iterable[Ecosystem]) -> str:
    return ", ".join(e.label for e in ecosystems)


def _source_unknown_text(n: int) -> str:
    return (
        f"{_plural(n, 'distribution package')} matched by binary name only "
        "(the SBOM does not state the source package advisories are filed under)"
    )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _open(n: int) -> str:
    return f"{n} open vulnerabilit{'y' if n == 1 else 'ies'}"


@dataclass(frozen=True)
class Assessment:
    """What may be said of one build's vulnerabilities."""

    digest_id: int
    has_sbom: bool
    ecosystems: tuple[Ecosystem, ...]
    open_vulnerabilities: int  # distinct advisories with an open finding
    # When matching last ran over the build, and the newest evidence it must
    # have seen (its SBOM, a covering source's import): matched before that,
    # the findings are not yet known.
    matched_at: datetime | None = None
    evidence_at: datetime | None = None

    @property
    def pending(self) -> bool:
        return self.evidence_at is not None and (
            self.matched_at is None or self.matched_at < self.evidence_at
        )

    @property
    def state(self) -> str:
        if not any(e.covered for e in self.ecosystems):
            # No SBOM, or no source covers any of its ecosystems: nothing
            # was checked at all.
            return NOT_ASSESSED
        if self.pending:
            return PENDING
        if all(e.covered and not e.source_unknown for e in self.ecosystems):
            return ASSESSED
        return PARTIAL

    @property
    def label(self) -> str:
        return STATE_LABELS[self.state]

    @property
    def tone(self) -> str:
        if self.state == ASSESSED and self.open_vulnerabilities:
            return "danger"
        return STATE_TONES[self.state]

    @property
    def assessed(self) -> bool:
        return self.state == ASSESSED

    @property
    def missing(self) -> tuple[Ecosystem, ...]:
        return tuple(e for e in self.ecosystems if not e.covered)

    @property
    def source_unknown(self) -> int:
        """Covered distro binaries matched by name only (source not stated)."""
        return sum(e.source_unknown for e in self.ecosystems if e.covered)

    @property
    def sources(self) -> tuple[AdvisorySource, ...]:
        """Every source used, once, by ecosystem name."""
        found = {s.ecosystem: s for e in self.ecosystems for s in e.sources}
        return tuple(found[name] for name in sorted(found))

    @property
    def reason(self) -> str:
        """Why the state is what it is: what is missing, or the sources."""
        state = self.state
        if state == NOT_ASSESSED:
            if self.ecosystems:
                return "no advisory source for " + _missing_text(self.missing)
            if self.has_sbom:
                return "the SBOM lists no package with a package URL"
            return "no SBOM"
        if state == PENDING:
            if self.matched_at is None:
                return "its components have not been matched against advisories yet"
            return (
                "evidence arrived after the last match "
                f"({when(self.matched_at)}); matching has not run since"
            )
        if state == PARTIAL:
            gaps = []
            if self.missing:
                gaps.append("no advisory source for " + _missing_text(self.missing))
            if self.source_unknown:
                gaps.append(_source_unknown_text(self.source_unknown))
            return "; ".join(gaps)
        return "against " + _sources_text(self.sources)

    @property
    def text(self) -> str:
        """The sentence pages, API and reports show."""
        if self.state == ASSESSED:
            return f"{self.label} {self.reason}"
        return f"{self.label}: {self.reason}"

    @property
    def stated_open(self) -> int | None:
        """The open count, where one may be stated: None for a zero that
        would read as "none" though the build was not (fully) assessed."""
        if self.assessed or self.open_vulnerabilities:
            return self.open_vulnerabilities
        return None

    @property
    def summary(self) -> str:
        """A count where one may be given, else the state: for lists."""
        if self.state == NOT_ASSESSED:
            return self.label
        if self.open_vulnerabilities:
            found = _open(self.open_vulnerabilities)
            return found if self.assessed else f"{found}; {self.label.lower()}"
        if self.assessed:
            return "No known vulnerabilities"
        return self.label


@dataclass(frozen=True)
class BuildsAssessment:
    """The latest build of each variant of a repository, taken together."""

    assessments: tuple[Assessment, ...]

    @property
    def builds(self) -> int:
        return len(self.assessments)

    @property
    def not_assessed(self) -> int:
        return sum(1 for a in self.assessments if a.state == NOT_ASSESSED)

    @property
    def state(self) -> str:
        states = {a.state for a in self.assessments}
        if not states or states == {NOT_ASSESSED}:
            return NOT_ASSESSED
        if states == {ASSESSED}:
            return ASSESSED
        return PARTIAL

    @property
    def label(self) -> str:
        return STATE_LABELS[self.state]

    @property
    def open_vulnerabilities(self) -> int:
        return sum(a.open_vulnerabilities for a in self.assessments)

    @property
    def tone(self) -> str:
        if self.state == ASSESSED and self.open_vulnerabilities:
            return "danger"
        return STATE_TONES[self.state]

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(sorted({e.label for a in self.assessments for e in a.missing}))

    @property
    def sources(self) -> tuple[AdvisorySource, ...]:
        found = {s.ecosystem: s for a in self.assessments for s in a.sources}
        return tuple(found[name] for name in sorted(found))

    @property
    def reason(self) -> str:
        state = self.state
        if not self.assessments:
            return "no builds"
        if state == NOT_ASSESSED:
            if self.missing:
                return "no advisory source for " + ", ".join(self.missing)
            if any(a.has_sbom for a in self.assessments):
                return "the latest builds' SBOMs list no package with a package URL"
            return "no SBOM for the latest builds"
        if state == ASSESSED:
            return "against " + _sources_text(self.sources)
        gaps = []
        if self.not_assessed:
            gaps.append(
                f"{self.not_assessed} of {_plural(self.builds, 'latest build')} "
                "not assessed"
            )
        pending = sum(1 for a in self.assessments if a.state == PENDING)
        if pending:
            gaps.append(
                f"{pending} of {_plural(self.builds, 'latest build')} awaiting matching"
            )
        if self.missing:
            gaps.append("no advisory source for " + ", ".join(self.missing))
        unknown = sum(a.source_unknown for a in self.assessments)
        if unknown:
            gaps.append(_source_unknown_text(unknown))
        return "; ".join(gaps)

    @property
    def text(self) -> str:
        if self.state == ASSESSED:
            return f"Latest builds assessed {self.reason}"
        return f"{self.label}: {self.reason}"

    @property
    def stated_open(self) -> int | None:
        if self.state == ASSESSED or self.open_vulnerabilities:
            return self.open_vulnerabilities
        return None

    @property
    def summary(self) -> str:
        if self.state == NOT_ASSESSED:
            return self.label
        if self.open_vulnerabilities:
            found = f"{_open(self.open_vulnerabilities)} in the latest builds"
            return found if self.state == ASSESSED else f"{found}; partially assessed"
        if self.state == ASSESSED:
            return "No known vulnerabilities in the latest builds"
        return self.label


# --------------------------------------------------------------------------
# Reads
# --------------------------------------------------------------------------


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
    counts: dict[int, dict[tuple[str, str], int]] = defaultdict(
        lambda: defaultdict(int)
    )
    unknown: dict[int, dict[tuple[str, str], int]] = defaultdict(
        lambda: defaultdict(int)
    )
    with_sbom: set[int] = set()
    matched_at: dict[int, datetime | None] = {}
    sbom_at: dict[int, datetime] = {}
    open_counts: dict[int, int] = {}
    for chunk in _chunks(ids):
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
            counts[digest_id][key] += n
            if not known:
                unknown[digest_id][key] += n
            matched_at[digest_id] = matched
        sboms = (
            Attestation.objects.filter(digest_id__in=chunk, kind__in=SBOM_KINDS)
            .values_list("digest_id")
            .annotate(latest=Max("created_at"))
            .order_by()
        )
        for digest_id, latest in sboms:
            with_sbom.add(digest_id)
            sbom_at[digest_id] = latest
        open_counts.update(
            Finding.objects.filter(digest_id__in=chunk, status__in=OPEN_STATUSES)
            .values_list("digest_id")
            .annotate(n=Count("vulnerability_id", distinct=True))
            .order_by()
        )
    if sources is None:
        sources = advisory_sources(as_of=as_of)
    covering: dict[tuple[str, str], tuple[AdvisorySource, ...]] = {}
    result = {}
    for digest_id in ids:
        ecosystems = []
        for key in sorted(counts.get(digest_id, {})):
            if key not in covering:
                covering[key] = tuple(s for s in sources if s.covers(*key))
            ecosystems.append(
                Ecosystem(
                    purl_type=key[0],
                    distro=key[1],
                    components=counts[digest_id][key],
                    sources=covering[key],
                    source_unknown=unknown[digest_id].get(key, 0)
                    if digest_id in unknown
                    else 0,
                )
            )
        seen = [s.imported_at for e in ecosystems for s in e.sources]
        if digest_id in sbom_at:
            seen.append(sbom_at[digest_id])
        result[digest_id] = Assessment(
            digest_id=digest_id,
            has_sbom=digest_id in with_sbom or digest_id in counts,
            ecosystems=tuple(ecosystems),
            open_vulnerabilities=open_counts.get(digest_id, 0),
            matched_at=matched_at.get(digest_id),
            evidence_at=max(seen, default=None),
        )
    return result


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
