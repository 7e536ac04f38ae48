"""Matching components to advisories: findings, and fixes by newer builds.

``findings_match`` runs the steps: the packages in scope and the advisories
for them (``finding_plans``), each component's version against their ranges
(``matching``), then findings for a slice of whole variants at a time
(``finding_variants``), written in bulk (``finding_rows``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, Min, OuterRef, QuerySet
from django.utils import timezone

from apps.catalog.generation import catalog_changed
from apps.catalog.models import ImageDigest
from apps.catalog.services import normalize_digest

from ..matching import (
    Affected,
    Matcher,
    component_match_version,
    component_package,
    distro_matches,
)
from ..models import Component, DigestComponent
from .batches import chunks
from .finding_plans import Hit, advisories_for, component_plans, vulnerabilities_read
from .finding_variants import variant_findings, variant_slices, variants_in_scope


@dataclass
class MatchReport:
    digests: int = 0
    packages: int = 0  # distinct (purl type, package name) in the digests
    components_affected: int = 0
    findings_created: int = 0
    findings_fixed: int = 0
    unparsable_versions: list[tuple[str, str]] = field(default_factory=list)


def _resolve_digests(digests: Iterable[ImageDigest | int | str]) -> list[int]:
    pks: set[int] = set()
    names: set[str] = set()
    for digest in digests:
        if isinstance(digest, ImageDigest):
            pks.add(digest.pk)
        elif isinstance(digest, int):
            pks.add(digest)
        else:
            names.add(normalize_digest(digest))
    if names:
        found = dict(
            ImageDigest.objects.filter(digest__in=names).values_list("digest", "pk")
        )
        missing = sorted(names - set(found))
        if missing:
            raise ValidationError(
                {"digests": f"Unknown digest: {', '.join(missing[:5])}."}
            )
        pks |= set(found.values())
    return sorted(pks)


def _match_scope(digests: Iterable[ImageDigest | int | str]) -> list[int]:
    """The digests to match: those given, and the newer builds of their variants.

    Newer builds are matched again too, so deciding which old findings a newer
    build fixed never reads a build whose findings were not computed.
    """
    given = _resolve_digests(digests)
    oldest = dict(
        ImageDigest.objects.filter(pk__in=given)
        .values("variant_id")
        .annotate(first=Min("built_at"))
        .values_list("variant_id", "first")
    )
    scope = set(given)
    for chunk in chunks(list(oldest)):
        for pk, variant_id, built_at in ImageDigest.objects.filter(
            variant_id__in=chunk
        ).values_list("pk", "variant_id", "built_at"):
            if built_at >= oldest[variant_id]:
                scope.add(pk)
    return sorted(scope)


def _in_scope(queryset, field_name: str, scope: list[int] | None):
    """Rows of a queryset for the digests in scope, in chunks of ids."""
    if scope is None:
        yield queryset
        return
    for chunk in chunks(scope, 2000):
        yield queryset.filter(**{f"{field_name}__in": chunk})


@transaction.atomic
def findings_match(
    *,
    digests: Iterable[ImageDigest | int | str] | None = None,
    now: datetime | None = None,
) -> MatchReport:
    """Match components of digests against advisories and record findings.

    ``digests`` (rows, ids or ``sha256:`` names) limits the run to those
    builds and the newer builds of their variants; None matches everything.
    Existing findings are never rewritten: re-running is a no-op. Afterwards,
    an open finding whose package a newer build of the same variant no longer
    carries at a vulnerable version is marked fixed by that build.
    """
    now = now or timezone.now()
    scope = None if digests is None else _match_scope(digests)
    report = MatchReport()
    matcher = Matcher()

    # 1. The distinct packages in scope, then every advisory for them in a few
    #    queries per purl type.
    components = Component.objects.all()
    if scope is not None:
        if not scope:
            return report
        report.digests = len(scope)
    else:
        report.digests = ImageDigest.objects.filter(
            Exists(DigestComponent.objects.filter(digest=OuterRef("pk")))
        ).count()
    packages = _packages_in_scope(components, scope)
    report.packages = len(packages)
    candidates = advisories_for(packages)

    # 2. Each component that has advisories, version against ranges once.
    matches = _components_matched(components, scope, candidates, matcher)
    report.unparsable_versions = sorted(matcher.unparsable)
    # Cached catalog answers state what builds were assessed against and
    # what was found: a run (after new SBOMs or advisories) makes them stale.
    catalog_changed()
    report.components_affected = len(matches)

    # 3. Findings, a slice of variants at a time: new ones for the digests in
    #    scope, then which open ones a newer build of the variant has fixed.
    _findings_file(matches, scope, now, report)
    # The builds matched, as of the run's start: an assessment names its
    # sources only for builds matched since those sources were imported.
    if scope is None:
        ImageDigest.objects.update(matched_at=now)
    else:
        for chunk in chunks(scope):
            ImageDigest.objects.filter(pk__in=chunk).update(matched_at=now)
    return report


def _packages_in_scope(
    components: QuerySet[Component], scope: list[int] | None
) -> set[tuple[str, str]]:
    """The distinct (purl type, package name) of the components in scope."""
    packages: set[tuple[str, str]] = set()
    for queryset in _in_scope(components, "appearances__digest_id", scope):
        for type_, namespace, name, source_name in queryset.values_list(
            "type", "namespace", "name", "source_name"
        ).distinct():
            packages.add(
                component_package(
                    type=type_, namespace=namespace, name=name, source_name=source_name
                )
            )
    return packages


def _components_matched(
    components: QuerySet[Component],
    scope: list[int] | None,
    candidates: dict[tuple[str, str], list[Affected]],
    matcher: Matcher,
) -> dict[int, list[Hit]]:
    """Per component in scope that some advisory affects, the entries it hit."""
    matches: dict[int, list[Hit]] = {}
    for queryset in _in_scope(components, "appearances__digest_id", scope):
        rows = queryset.values_list(
            "pk",
            "type",
            "namespace",
            "name",
            "version",
            "source_name",
            "source_version",
            "distro",
        ).distinct()
        for row in rows.iterator(chunk_size=5000):
            pk, type_, namespace, name, version, source_name, source_version, distro = (
                row
            )
            if pk in matches:
                continue
            key = component_package(
                type=type_, namespace=namespace, name=name, source_name=source_name
            )
            match_version = component_match_version(
                type=type_, version=version, source_version=source_version
            )
            found = []
            for affected in candidates.get(key, ()):
                if not distro_matches(affected.distro, distro):
                    continue
                hit, fixed = matcher.affects(affected, match_version)
                if hit:
                    found.append(
                        (
                            affected.vulnerability_id,
                            fixed,
                            affected.fix_seen_at,
                            affected.fix_seen_in,
                        )
                    )
            if found:
                matches[pk] = found
    return matches


def _findings_file(
    matches: dict[int, list[Hit]],
    scope: list[int] | None,
    now: datetime,
    report: MatchReport,
) -> None:
    """New findings and fixes, a slice of whole variants at a time; the SLA
    ledger is told when any finding was created or fixed."""
    vulns = vulnerabilities_read(
        {hit[0] for found in matches.values() for hit in found}
    )
    plans = component_plans(matches, vulns)
    for variant_ids in variant_slices(variants_in_scope(scope)):
        created, fixes = variant_findings(variant_ids, scope, plans, now)
        report.findings_created += created
        report.findings_fixed += fixes
    if report.findings_created or report.findings_fixed:
        # New findings start clocks; fixed ones are met or missed by the
        # ledger's next transition run.
        from apps.sla.triggers import findings_matched

        findings_matched(digest_ids=scope)
