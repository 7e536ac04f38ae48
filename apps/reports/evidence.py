"""The evidence a report is made from, as plain data, and its canonical JSON.

``build_evidence`` reads the ledger, entitlements and catalog evidence for a
report through the same selectors the portal's pages use, so the figures in a
report are the figures on the pages. Everything is turned into JSON values on
the way: times as ISO-8601 UTC strings, decimals and percentages as strings,
lists in a stable order. ``canonical_json`` then writes it with sorted keys
and compact separators, so the same inputs give the same bytes and hash.

Large tables (the clock appendix, an image's components) are read in chunks
of plain values, never as a whole table of model instances.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Q

from apps.catalog.models import Attestation, ImageDigest, Series, TagEvent, Variant
from apps.compliance.models import EvidenceKind
from apps.compliance.selectors import control_map
from apps.entitlements.models import Entitlement, Mirror
from apps.fips.selectors import digest_crypto_modules, org_module_inventory
from apps.fips.status import module_status
from apps.orgs.models import Organization
from apps.sla import selectors as sla
from apps.sla.models import SLA_SEVERITIES, SlaClock
from apps.stig.models import StigScan
from apps.stig.selectors import STATUSES, digest_latest_scans, scan_summary
from apps.vulns import assessment as vuln_assessment
from apps.vulns.models import (
    DigestComponent,
    Finding,
    VexStatement,
    other_vuln_ids,
    preferred_vuln_id,
)

from .links import verify_url
from .models import Report

SCHEMA = "https://hardened-images.dev/schemas/report-evidence/v1"
CHUNK = 2000
# Overlays are measured clock by clock; a report measures every clock of its
# window (the pages cap theirs for speed and say so).
OVERLAY_CAP = 10_000_000

Progress = Callable[[int, str], None]


# --- JSON values ---------------------------------------------------------------


def ts(value: datetime | None) -> str | None:
    """An aware datetime as ISO-8601 in UTC, to the second: ``...Z``."""
    if value is None:
        return None
    return value.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def dec(value: Decimal | None) -> str | None:
    return str(value) if value is not None else None


def pct(value: float | None) -> str | None:
    """A percentage to one decimal, as a string (no float in the JSON)."""
    return f"{value:.1f}" if value is not None else None


def seconds(value: timedelta | None) -> int | None:
    return round(value.total_seconds()) if value is not None else None


def canonical_json(evidence: dict) -> bytes:
    """Sorted keys, compact separators, UTF-8, a final newline."""
    return (
        json.dumps(
            evidence,
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        )
        + "\n"
    ).encode("utf-8")


def window_bounds(report: Report) -> tuple[datetime, datetime]:
    """[start, end) of the report's window in UTC: from the first day's
    midnight to the day after the last, never past the data cut-off."""
    if report.window_start is None or report.window_end is None:
        raise ValueError("This report has no window.")
    start = datetime.combine(report.window_start, time.min, tzinfo=UTC)
    end = datetime.combine(report.window_end + timedelta(days=1), time.min, tzinfo=UTC)
    end = min(end, report.data_cutoff)
    if end <= start:
        raise ValueError("The data cut-off is before the window starts.")
    return start, end


def _noop(percent: int, stage: str) -> None:
    return None


def _header(report: Report) -> dict[str, Any]:
    header: dict[str, Any] = {
        "id": str(report.public_id),
        "kind": report.kind,
        "title": report.get_kind_display(),
        "data_cutoff": ts(report.data_cutoff),
        "verify_url": verify_url(report),
        "window": None,
    }
    if report.window_start and report.window_end:
        header["window"] = {
            "start": day(report.window_start),
            "end": day(report.window_end),
        }
    return header


def build_evidence(report: Report, *, progress: Progress | None = None) -> dict:
    """The evidence of one report, by its kind, as JSON-ready data."""
    progress = progress or _noop
    builders = {
        Report.Kind.ORG_COMPLIANCE: org_compliance_evidence,
        Report.Kind.IMAGE_DOSSIER: image_dossier_evidence,
        Report.Kind.SLA_PERFORMANCE: sla_performance_evidence,
    }
    builder = builders.get(report.kind)
    if builder is None:
        raise ValueError(f"No evidence for reports of kind {report.kind!r}.")
    progress(1, "Reading the evidence")
    evidence = {"schema": SCHEMA, "report": _header(report)}
    evidence.update(builder(report, progress))
    return evidence


# --- org compliance ------------------------------------------------------------


def figures_json(figures: sla.SeverityFigures) -> dict[str, Any]:
    return {
        "met": figures.met,
        "missed": figures.missed,
        "breached": figures.breached,
        "open_breaches": figures.open_breaches,
        "at_risk": figures.at_risk,
        "judged": figures.met + figures.missed + figures.breached,
        "attainment": pct(figures.attainment),
        "mttr_median_seconds": seconds(figures.mttr_median),
        "mttr_p90_seconds": seconds(figures.mttr_p90),
    }


def metrics_json(metrics: sla.Metrics) -> dict[str, Any]:
    return {
        "severities": [
            {"severity": severity, **figures_json(metrics.severities[severity])}
            for severity in SLA_SEVERITIES
            if severity in metrics.severities
        ],
        "overall": figures_json(metrics.overall),
    }


def overlays_json(figures: sla.OverlayFigures) -> list[dict[str, Any]]:
    from apps.sla.overlays import OVERLAYS

    rows = []
    for overlay in OVERLAYS:
        entry = figures.summary[overlay.key]
        counts = entry["counts"]
        spans = {s: f"{d} days" for s, d in overlay.days.items()}
        spans.update({s: f"{m} month(s)" for s, m in overlay.months.items()})
        rows.append(
            {
                "key": overlay.key,
                "name": entry["name"],
                "start_event": overlay.start_event,
                "spans": [
                    {"severity": s, "span": spans[s]}
                    for s in SLA_SEVERITIES
                    if s in spans
                ],
                "counts": {k: counts[k] for k in sorted(counts)},
                "judged": sum(counts.get(k, 0) for k in ("met", "missed", "breached")),
                "attainment": pct(entry["percent"]),
                "measured": figures.measured,
                "total": figures.total,
            }
        )
    return rows


def _entitlements(org: Organization, start: datetime, end: datetime) -> list[dict]:
    rows = (
        Entitlement.objects.for_org(org)
        .filter(starts_at__lt=end)
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=start))
        .values(
            "feature__key",
            "feature__name",
            "repository__name",
            "quantity",
            "starts_at",
            "ends_at",
            "source",
            "reference",
            "end_reason",
        )
        .order_by("feature__key", "repository__name", "starts_at", "id")
    )
    return [
        {
            "feature": row["feature__key"],
            "feature_name": row["feature__name"],
            "repository": row["repository__name"],
            "quantity": row["quantity"],
            "starts_at": ts(row["starts_at"]),
            "ends_at": ts(row["ends_at"]),
            "source": row["source"],
            "reference": row["reference"],
            "end_reason": row["end_reason"],
        }
        for row in rows
    ]


_TIMELINE_ROW = (
    "finding__vulnerability",
    "finding__component",
    "finding__digest__variant__series__repository",
    "finding__fixed_in__variant__series",
    "policy_version__policy",
)


def _clock_ref(clock: SlaClock) -> dict[str, Any]:
    finding = clock.finding
    return {
        "id": clock.pk,
        "vuln_id": finding.vulnerability.vuln_id,
        "cve_id": finding.vulnerability.cve_id,
        "aliases": finding.vulnerability.other_ids,
        "severity": clock.severity,
        "state": clock.state,
        "kev": finding.vulnerability.kev,
        "repository": finding.digest.variant.series.repository.name,
        "image": str(finding.digest.variant),
        "digest": finding.digest.digest,
        "component": finding.component.purl,
        "policy": str(clock.policy_version),
        "started_at": ts(clock.started_at),
        "due_at": ts(clock.due_at),
        "stopped_at": ts(clock.stopped_at),
    }


def _late_clocks(org: Organization, start: datetime, end: datetime) -> list[dict]:
    """Clocks breached (deadline passed in the window, unfixed) and missed
    (fixed late in the window), as sla_metrics counts them, each with its
    timeline; read in chunks."""
    late = (
        SlaClock.objects.for_org(org)
        .filter(
            Q(state=SlaClock.State.BREACHED, due_at__gte=start, due_at__lt=end)
            | Q(state=SlaClock.State.MISSED, stopped_at__gte=start, stopped_at__lt=end)
        )
        .select_related(*_TIMELINE_ROW)
        .order_by("due_at", "id")
    )
    rows = []
    for clock in late.iterator(chunk_size=CHUNK):
        entry = _clock_ref(clock)
        entry["timeline"] = [
            {"key": e.key, "label": e.label, "at": ts(e.at), "note": e.note or ""}
            for e in sla.sla_clock_timeline(clock)
        ]
        rows.append(entry)
    return rows


def _person(user) -> str | None:
    if user is None:
        return None
    return user.get_full_name() or user.email


def _exemptions(org: Organization, start: datetime, end: datetime) -> list[dict]:
    """Clocks exempted in the window: by the publisher's VEX not_affected
    statement (with its justification) or by an approved waiver (with who
    asked, who approved, and until when)."""
    exempt = (
        SlaClock.objects.for_org(org)
        .filter(state=SlaClock.State.EXEMPT, stopped_at__gte=start, stopped_at__lt=end)
        .select_related(
            *_TIMELINE_ROW,
            "vex_statement__document",
            "waiver__requested_by",
            "waiver__approved_by",
        )
        .order_by("stopped_at", "id")
    )
    rows = []
    for clock in exempt.iterator(chunk_size=CHUNK):
        entry = _clock_ref(clock)
        entry.update({"stop_reason": clock.stop_reason, "reason": clock.exempt_reason})
        vex = clock.vex_statement
        entry["vex"] = (
            {
                "status": vex.status,
                "justification": vex.justification,
                "impact_statement": vex.impact_statement,
                "author": vex.author,
                "timestamp": ts(vex.timestamp),
                "document": vex.document.document_id
                or f"VEX document {vex.document_id}",
            }
            if vex is not None
            else None
        )
        waiver = clock.waiver
        entry["waiver"] = (
            {
                "id": waiver.pk,
                "state": waiver.state,
                "reason": waiver.reason,
                "requested_by": _person(waiver.requested_by),
                "requested_at": ts(waiver.created_at),
                "approved_by": _person(waiver.approved_by),
                "approved_at": ts(waiver.approved_at),
                "expires_at": ts(waiver.expires_at),
            }
            if waiver is not None
            else None
        )
        rows.append(entry)
    return rows


def _fips(org: Organization, today: date, mirrors: list[Mirror]) -> list[dict]:
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


def _scan_json(scan: StigScan) -> dict[str, Any]:
    summary = scan_summary(scan)
    labels = [label for _, label in STATUSES]
    return {
        "benchmark_id": scan.benchmark_id,
        "benchmark_title": scan.benchmark_title,
        "benchmark_version": scan.benchmark_version,
        "release_info": scan.release_info,
        "profile": scan.profile_title or scan.profile_id,
        "scanner": scan.scanner,
        "finished_at": ts(scan.finished_at),
        "score": dec(scan.score),
        "score_max": dec(scan.score_max),
        "attestation_sha256": scan.attestation.sha256,
        "statuses": labels,
        "cats": [
            {"cat": r.label, "figures": list(r.figures), "total": r.total}
            for r in summary.rows
        ],
        "totals": list(summary.totals),
        "not_selected": summary.not_selected,
        "rules": summary.total,
    }


def _stig(mirrors: list[Mirror], end: datetime, start: datetime) -> list[dict]:
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
                    (_scan_json(s) for s in scans), key=lambda s: s["benchmark_id"]
                ),
            }
        )
    rows.sort(key=lambda r: (r["repository"], r["image"], r["built_at"], r["digest"]))
    return rows


def _els(mirrors: list[Mirror], first: date, last: date) -> list[dict]:
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


def _assessment(mirrors: list[Mirror], end: datetime, cutoff: datetime) -> dict:
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


SECTION_OF_KIND = {
    EvidenceKind.SLA_LEDGER: "sla",
    EvidenceKind.STIG_SCANS: "stig",
    EvidenceKind.FIPS_MODULES: "fips",
    EvidenceKind.ELS_COVERAGE: "els",
    EvidenceKind.SBOM: "attestations",
    EvidenceKind.VEX: "exemptions",
    EvidenceKind.PROVENANCE: "attestations",
}


def _attestation_kinds(repositories: list[int], end: datetime) -> dict[str, int]:
    from django.db.models import Count

    rows = (
        Attestation.objects.filter(
            digest__variant__series__repository_id__in=repositories,
            created_at__lt=end,
        )
        .values("kind")
        .annotate(n=Count("pk"))
        .order_by("kind")
    )
    return {row["kind"]: row["n"] for row in rows}


def _controls(present: dict[str, bool]) -> list[dict]:
    rows = []
    for control in control_map():
        evidence = [
            {
                "kind": e.kind,
                "label": e.get_kind_display(),
                "rationale": e.rationale,
                "present": present.get(e.kind, False),
                "section": SECTION_OF_KIND.get(e.kind, ""),
            }
            for e in control.evidence.all()
        ]
        rows.append(
            {
                "framework": control.framework,
                "framework_name": control.get_framework_display(),
                "control_id": control.control_id,
                "title": control.title,
                "requirement": control.requirement,
                "reference_url": control.reference_url,
                "evidence": sorted(evidence, key=lambda e: e["kind"]),
                "supported": any(e["present"] for e in evidence),
            }
        )
    return rows


APPENDIX_FIELDS = (
    "id",
    "severity",
    "state",
    "started_at",
    "due_at",
    "stopped_at",
    "stop_reason",
    "kev_capped",
    "finding__vulnerability__vuln_id",
    "finding__vulnerability__aliases",
    "finding__digest__digest",
    "finding__digest__variant__series__repository__name",
    "finding__digest__variant__series__name",
    "finding__digest__variant__flavor",
    "finding__digest__variant__fips",
    "finding__digest__variant__stig",
)


def clocks_in_window(org: Organization, start: datetime, end: datetime):
    """The clocks that ran during [start, end): started before its end and
    not stopped before its start."""
    return (
        SlaClock.objects.for_org(org)
        .filter(started_at__lt=end)
        .filter(Q(stopped_at__isnull=True) | Q(stopped_at__gte=start))
    )


def _image_name(row: dict[str, Any]) -> str:
    """``gen-app-000:1.0-dev-fips``: the variant's tag, from a values row."""
    series = (
        f"{row['finding__digest__variant__series__repository__name']}:"
        f"{row['finding__digest__variant__series__name']}"
    )
    suffix = Variant.suffix_of(
        row["finding__digest__variant__flavor"],
        row["finding__digest__variant__fips"],
        row["finding__digest__variant__stig"],
    )
    return f"{series}-{suffix}" if suffix else series


def appendix_rows(org: Organization, start: datetime, end: datetime) -> Iterable[dict]:
    """Every clock of the window as a flat row, read in chunks of values."""
    rows = (
        clocks_in_window(org, start, end)
        .values(*APPENDIX_FIELDS)
        .order_by("started_at", "id")
    )
    for row in rows.iterator(chunk_size=CHUNK):
        yield {
            "id": row["id"],
            "vuln_id": row["finding__vulnerability__vuln_id"],
            "cve_id": preferred_vuln_id(
                row["finding__vulnerability__vuln_id"],
                row["finding__vulnerability__aliases"],
            ),
            "aliases": other_vuln_ids(
                row["finding__vulnerability__vuln_id"],
                row["finding__vulnerability__aliases"],
            ),
            "image": _image_name(row),
            "digest": row["finding__digest__digest"],
            "repository": row["finding__digest__variant__series__repository__name"],
            "series": row["finding__digest__variant__series__name"],
            "severity": row["severity"],
            "state": row["state"],
            "started_at": ts(row["started_at"]),
            "due_at": ts(row["due_at"]),
            "stopped_at": ts(row["stopped_at"]),
            "stop_reason": row["stop_reason"],
            "kev_capped": row["kev_capped"],
        }


def org_compliance_evidence(report: Report, progress: Progress) -> dict[str, Any]:
    org = report.org
    if org is None:
        raise ValueError("A compliance report is for one organization.")
    start, end = window_bounds(report)
    cutoff = report.data_cutoff
    progress(5, "Entitlements held during the window")
    entitlements = _entitlements(org, start, end)
    mirrors = list(
        Mirror.objects.for_org(org)
        .filter(created_at__lt=end)
        .select_related("repository")
        .order_by("repository__name", "id")
    )
    progress(10, "SLA attainment under the contract")
    metrics = sla.sla_metrics(org=org, start=start, end=end)
    progress(20, "SLA attainment under the overlays")
    overlays = sla.sla_overlay_figures(
        org=org, start=start, end=end, now=cutoff, cap=OVERLAY_CAP
    )
    progress(35, "Breached and missed clocks")
    late = _late_clocks(org, start, end)
    progress(45, "Exemptions")
    exemptions = _exemptions(org, start, end)
    progress(50, "FIPS module inventory")
    fips = _fips(org, cutoff.astimezone(UTC).date(), mirrors)
    progress(55, "STIG results")
    stig = _stig(mirrors, end, start)
    progress(60, "Lifecycle and ELS coverage")
    els = _els(mirrors, start.date(), report.window_end or start.date())
    attestation_kinds = _attestation_kinds([m.repository_id for m in mirrors], end)
    assessment = _assessment(mirrors, end, cutoff)
    progress(65, "Appendix of clocks")
    appendix = list(appendix_rows(org, start, end))
    present = {
        EvidenceKind.SLA_LEDGER: bool(appendix),
        EvidenceKind.STIG_SCANS: bool(stig),
        EvidenceKind.FIPS_MODULES: bool(fips),
        EvidenceKind.ELS_COVERAGE: bool(els),
        EvidenceKind.SBOM: any(k.startswith("sbom-") for k in attestation_kinds),
        EvidenceKind.VEX: bool(exemptions)
        or "openvex" in attestation_kinds
        or VexStatement.objects.in_force_at(end)
        .filter(
            repository_id__in=[m.repository_id for m in mirrors],
            timestamp__lt=end,
        )
        .exists(),
        EvidenceKind.PROVENANCE: "slsa-provenance" in attestation_kinds,
    }
    progress(70, "Control map")
    controls = _controls(present)
    states: dict[str, int] = {}
    for row in appendix:
        states[row["state"]] = states.get(row["state"], 0) + 1
    return {
        "org": {"name": org.name, "slug": org.slug},
        "period": {"start": ts(start), "end": ts(end)},
        "entitlements": entitlements,
        "mirrors": [
            {
                "repository": m.repository.name,
                "include_fips": m.include_fips,
                "include_stig": m.include_stig,
                "include_els": m.include_els,
                "status": m.status,
                "since": ts(m.created_at),
            }
            for m in mirrors
        ],
        "sla": {
            "contract": metrics_json(metrics),
            "overlays": overlays_json(overlays),
        },
        "late_clocks": late,
        "exemptions": exemptions,
        "fips_modules": fips,
        "stig": stig,
        "els": els,
        "attestation_kinds": attestation_kinds,
        "vulnerability_assessment": assessment,
        "controls": controls,
        "appendix": {
            "count": len(appendix),
            "states": {k: states[k] for k in sorted(states)},
            "clocks": appendix,
        },
    }


# --- image dossier -------------------------------------------------------------


def image_dossier_evidence(report: Report, progress: Progress) -> dict[str, Any]:
    if report.digest_id is None:
        raise ValueError("An image dossier is for one digest.")
    image = ImageDigest.objects.select_related("variant__series__repository").get(
        pk=report.digest_id
    )
    cutoff = report.data_cutoff
    series = image.variant.series
    progress(10, "Tags and attestations")
    tags = [
        {
            "tag": t["tag"],
            "assigned_at": ts(t["assigned_at"]),
            "removed_at": ts(t["removed_at"]),
            "removal_reason": t["removal_reason"],
        }
        for t in TagEvent.objects.filter(digest=image, assigned_at__lt=cutoff)
        .values("tag", "assigned_at", "removed_at", "removal_reason")
        .order_by("tag", "assigned_at")
    ]
    attestations = [
        {
            "kind": a["kind"],
            "sha256": a["sha256"],
            "size": a["size"],
            "media_type": a["media_type"],
            "spec_version": a["spec_version"],
            "signer": a["signer_key_id"],
            "signature_verified": a["signature_verified"],
            "created_at": ts(a["created_at"]),
        }
        for a in Attestation.objects.filter(digest=image, created_at__lt=cutoff)
        .values(
            "kind",
            "sha256",
            "size",
            "media_type",
            "spec_version",
            "signer_key_id",
            "signature_verified",
            "created_at",
        )
        .order_by("kind", "created_at", "sha256")
    ]
    provenance = [
        _plain(a.summary)
        for a in Attestation.objects.filter(
            digest=image, kind=Attestation.Kind.SLSA_PROVENANCE, created_at__lt=cutoff
        ).order_by("created_at", "sha256")
    ]
    progress(25, "Components")
    components = [
        {
            "purl": c["component__purl"],
            "name": c["component__name"],
            "version": c["component__version"],
            "type": c["component__type"],
            "licenses": list(c["component__licenses"] or []),
        }
        for c in DigestComponent.objects.filter(digest=image)
        .values(
            "component__purl",
            "component__name",
            "component__version",
            "component__type",
            "component__licenses",
        )
        .order_by("component__purl")
        .iterator(chunk_size=CHUNK)
    ]
    progress(45, "Vulnerabilities and VEX")
    statements: dict[int, list[dict]] = {}
    vex_rows = (
        VexStatement.objects.in_force_at(cutoff)
        .filter(
            Q(digest=image) | Q(digest__isnull=True, repository=series.repository),
            timestamp__lt=cutoff,
        )
        .values(
            "vulnerability_id",
            "status",
            "justification",
            "impact_statement",
            "action_statement",
            "subcomponent",
            "author",
            "timestamp",
        )
        .order_by("vulnerability_id", "timestamp", "id")
    )
    for v in vex_rows.iterator(chunk_size=CHUNK):
        statements.setdefault(v["vulnerability_id"], []).append(
            {
                "status": v["status"],
                "justification": v["justification"],
                "impact_statement": v["impact_statement"],
                "action_statement": v["action_statement"],
                "subcomponent": v["subcomponent"],
                "author": v["author"],
                "timestamp": ts(v["timestamp"]),
            }
        )
    findings = [
        {
            "vuln_id": f["vulnerability__vuln_id"],
            "kev": f["vulnerability__kev"],
            "component": f["component__purl"],
            "severity": f["severity"],
            "status": f["status"],
            "fixed_version": f["fixed_version"],
            "detected_at": ts(f["detected_at"]),
            "fixed_published_at": ts(f["fixed_published_at"]),
            "vex": statements.get(f["vulnerability_id"], []),
        }
        for f in (
            # Findings in force: one whose advisory was withdrawn is history.
            Finding.objects.filter(digest=image)
            .exclude(status=Finding.Status.WITHDRAWN)
            .values(
                "vulnerability_id",
                "vulnerability__vuln_id",
                "vulnerability__kev",
                "component__purl",
                "severity",
                "status",
                "fixed_version",
                "detected_at",
                "fixed_published_at",
            )
            .order_by("vulnerability__vuln_id", "component__purl")
            .iterator(chunk_size=CHUNK)
        )
    ]
    progress(60, "STIG and FIPS evidence")
    stig = sorted(
        (_scan_json(s) for s in digest_latest_scans(image=image)),
        key=lambda s: s["benchmark_id"],
    )
    fips = [
        {
            "certificate": link.module.certificate_number,
            "name": link.module.name,
            "vendor": link.module.vendor,
            "version": link.module.module_version,
            "standard": link.module.get_standard_display(),
            "status": module_status(link.module, on=cutoff).status,
            "status_label": module_status(link.module, on=cutoff).label,
            "registry_status": link.module.status,
            "sunset_date": day(link.module.sunset_date),
        }
        for link in digest_crypto_modules(image=image)
    ]
    counts: dict[str, int] = {}
    for f in findings:
        counts[f["severity"]] = counts.get(f["severity"], 0) + 1
    # What may be said of the findings: advisory sources as of the cut-off.
    assessment = vuln_assessment.digest_assessment(digest=image, as_of=cutoff)
    return {
        "image": {
            "repository": series.repository.name,
            "series": series.name,
            "variant": str(image.variant),
            "fips": image.variant.fips,
            "stig": image.variant.stig,
            "digest": image.digest,
            "architectures": sorted(image.architectures or []),
            "built_at": ts(image.built_at),
            "lifecycle": {
                "support_end": day(series.support_end),
                "els_end": day(series.els_end),
                "status_at_cutoff": series.status_on(cutoff.date()),
            },
        },
        "tags": tags,
        "attestations": attestations,
        "provenance": provenance,
        "components": components,
        "findings": findings,
        "finding_counts": {k: counts[k] for k in sorted(counts)},
        "assessment": vuln_assessment.assessment_json(assessment),
        "advisory_sources": vuln_assessment.advisory_sources_json([assessment]),
        "kev": vuln_assessment.kev_json(vuln_assessment.kev_last_import(as_of=cutoff)),
        "stig": stig,
        "fips_modules": fips,
    }


def _plain(value: Any) -> Any:
    """A stored JSON summary with keys sorted and no float surprises."""
    if isinstance(value, dict):
        return {str(k): _plain(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return repr(value)
    return value


# --- SLA performance across customers (staff) ------------------------------------


def sla_performance_evidence(report: Report, progress: Progress) -> dict[str, Any]:
    start, end = window_bounds(report)
    progress(10, "Figures across customers")
    overall = sla.sla_metrics(start=start, end=end)
    org_ids = (
        SlaClock.objects.filter(started_at__lt=end)
        .filter(Q(stopped_at__isnull=True) | Q(stopped_at__gte=start))
        .values_list("org_id", flat=True)
        .distinct()
        .order_by("org_id")
    )
    orgs = list(Organization.objects.filter(pk__in=org_ids).order_by("name", "pk"))
    progress(20, "Figures per customer")
    credits = {c.org.pk: c for c in sla.sla_credits_owed_all(start=start, end=end)}
    customers = []
    for index, org in enumerate(orgs):
        metrics = sla.sla_metrics(org=org, start=start, end=end)
        owed = credits.get(org.pk)
        customers.append(
            {
                "org": {"name": org.name, "slug": org.slug},
                **metrics_json(metrics),
                "credits_cents": owed.total_cents if owed else 0,
            }
        )
        if orgs:
            progress(20 + 50 * (index + 1) // len(orgs), "Figures per customer")
    return {
        "period": {"start": ts(start), "end": ts(end)},
        "all_customers": metrics_json(overall),
        "customers": customers,
    }
