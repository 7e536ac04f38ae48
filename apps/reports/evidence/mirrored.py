"""The compliance report's sections read from the repositories the organization
mirrored during the window: the FIPS modules of its FIPS builds, the STIG
results of its STIG builds, the lifecycle and ELS coverage of each series, and
what may be said of the vulnerabilities of each variant's latest build."""

from __future__ import annotations

from datetime import date, datetime

from apps.catalog.models import ImageDigest, Series
from apps.entitlements.models import Mirror
from apps.fips.selectors import org_module_inventory
from apps.orgs.models import Organization
from apps.stig.selectors import digest_latest_scans
from apps.vulns.selectors import assessment as vuln_assessment

from .common import CHUNK, day, scan_json, ts


def fips_modules(org: Organization, today: date, mirrors: list[Mirror]) -> list[dict]:
    """The modules of the FIPS builds of the repositories mirrored with FIPS
    during the window: the report's own mirrors, not today's, so this section
    never names a repository the scope section does not."""
    rows = []
    fips_mirrors = [m for m in mirrors if m.include_fips]
    for row in org_module_inventory(org=org, today=today, mirrors=fips_mirrors):
        module = row.module
        rows.append(
            {
                "certificate": module.certificate_number,
                "name": module.name,
                "vendor": module.vendor,
                "version": module.module_version,
                "standard": module.get_standard_display(),
                "status": row.status.status,
                "status_label": row.status.label,
                "registry_status": module.status,
                "validation_date": day(module.validation_date),
                "sunset_date": day(module.sunset_date),
                "days_to_sunset": row.days_to_sunset,
                "tone": row.tone,
                "builds": row.builds,
                "carriers": sorted(
                    (
                        {
                            "repository": c.repository,
                            "series": c.series,
                            "variant": c.variant,
                            "builds": c.builds,
                            "newest_digest": c.newest.digest,
                        }
                        for c in row.carriers
                    ),
                    key=lambda c: (c["repository"], c["series"], c["variant"]),
                ),
            }
        )
    return rows


def stig_results(mirrors: list[Mirror], end: datetime, start: datetime) -> list[dict]:
    """Per mirrored STIG build: the builds made in the window and, per
    variant, the one in service when it began; each with the latest scan of
    every benchmark it was scanned against."""
    repositories = [m.repository_id for m in mirrors if m.include_stig]
    if not repositories:
        return []
    builds = (
        ImageDigest.objects.filter(
            variant__series__repository_id__in=repositories,
            variant__stig=True,
            built_at__lt=end,
        )
        .select_related("variant__series__repository")
        .order_by("variant_id", "-built_at", "-id")
    )
    chosen: list[ImageDigest] = []
    before_seen: set[int] = set()
    for image in builds.iterator(chunk_size=CHUNK):
        if image.built_at >= start:
            chosen.append(image)
        elif image.variant_id not in before_seen:
            before_seen.add(image.variant_id)
            chosen.append(image)
    rows = []
    for image in chosen:
        scans = digest_latest_scans(image=image)
        if not scans:
            continue
        rows.append(
            {
                "repository": image.variant.series.repository.name,
                "image": str(image.variant),
                "digest": image.digest,
                "built_at": ts(image.built_at),
                "scans": sorted(
                    (scan_json(s) for s in scans), key=lambda s: s["benchmark_id"]
                ),
            }
        )
    rows.sort(key=lambda r: (r["repository"], r["image"], r["built_at"], r["digest"]))
    return rows


def els_coverage(mirrors: list[Mirror], first: date, last: date) -> list[dict]:
    """Each series of each mirrored repository: its lifecycle dates, whether
    ELS is included, and whether publisher support or ELS covered the whole
    window."""
    by_repo = {m.repository_id: m for m in mirrors}
    rows = []
    series = (
        Series.objects.filter(repository_id__in=by_repo)
        .select_related("repository")
        .order_by("repository__name", "name")
    )
    for s in series:
        mirror = by_repo[s.repository_id]
        covered_to = s.support_end
        if s.support_end is not None and mirror.include_els and s.els_end is not None:
            covered_to = max(s.support_end, s.els_end)
        if s.upstream_ga is not None and s.upstream_ga > last:
            continue
        if covered_to is None or covered_to >= last:
            coverage = "supported"
            if s.support_end is not None and s.support_end < last:
                coverage = "extended"
        elif covered_to >= first:
            coverage = "partial"
        else:
            coverage = "none"
        rows.append(
            {
                "repository": s.repository.name,
                "series": s.name,
                "upstream_ga": day(s.upstream_ga),
                "upstream_eol": day(s.upstream_eol),
                "support_end": day(s.support_end),
                "els_end": day(s.els_end),
                "include_els": mirror.include_els,
                "status_at_end": s.status_on(last),
                "covered_to": day(covered_to),
                "coverage": coverage,
            }
        )
    return rows


def assessed_builds(mirrors: list[Mirror], end: datetime) -> list[ImageDigest]:
    """The latest build of each variant the mirrors take (FIPS and STIG
    variants only where a mirror includes them) built before ``end``: the
    builds whose assessment the compliance report states, and whose
    documents its evidence bundle carries."""
    by_repository = {m.repository_id: m for m in mirrors}
    latest = vuln_assessment.latest_build_ids(
        repository_ids=list(by_repository), built_before=end
    )
    ids = sorted(pk for pks in latest.values() for pk in pks)
    images = []
    for chunk_start in range(0, len(ids), CHUNK):
        for image in ImageDigest.objects.filter(
            pk__in=ids[chunk_start : chunk_start + CHUNK]
        ).select_related("variant__series__repository"):
            mirror = by_repository[image.variant.series.repository_id]
            if (image.variant.fips and not mirror.include_fips) or (
                image.variant.stig and not mirror.include_stig
            ):
                continue
            images.append(image)
    return images


def vulnerability_assessment(
    mirrors: list[Mirror], end: datetime, cutoff: datetime
) -> dict:
    """The latest build of each variant the org mirrors (FIPS and STIG
    variants only where the mirror includes them) built before ``end``: what
    may be said of its vulnerabilities, against the advisory sources imported
    by the cut-off, and those sources."""
    images = assessed_builds(mirrors, end)
    found = vuln_assessment.digest_assessments(
        digest_ids=[image.pk for image in images], as_of=cutoff
    )
    builds = [
        {
            "repository": image.variant.series.repository.name,
            "image": str(image.variant),
            "digest": image.digest,
            "built_at": ts(image.built_at),
            **vuln_assessment.assessment_json(found[image.pk]),
        }
        for image in images
    ]
    builds.sort(key=lambda b: (b["repository"], b["image"], b["digest"]))
    states: dict[str, int] = {}
    for build in builds:
        states[build["state"]] = states.get(build["state"], 0) + 1
    return {
        "builds": builds,
        "states": {k: states[k] for k in sorted(states)},
        "advisory_sources": vuln_assessment.advisory_sources_json(found.values()),
        "kev": vuln_assessment.kev_json(vuln_assessment.kev_last_import(as_of=cutoff)),
    }
