"""The organization's compliance report for a window: entitlements and mirrors
in scope, SLA attainment under the contract and the overlays, the ledger's
late clocks and exemptions, the mirrored images' FIPS, STIG, ELS and
vulnerability evidence, the control map, and appendix A."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.db.models import Count, Q

from apps.catalog.formats.verdict import CHECK_REVOKED
from apps.catalog.models import Attestation
from apps.compliance.models import EvidenceKind
from apps.compliance.selectors import control_map
from apps.entitlements.models import Entitlement, Mirror
from apps.orgs.models import Organization
from apps.registry.selectors import images_run_list
from apps.sla.models import SLA_SEVERITIES
from apps.sla.selectors.metrics import sla_metrics
from apps.sla.selectors.overlay_figures import OverlayFigures, sla_overlay_figures
from apps.vulns.models import VexStatement

from ..models import Report
from . import ledger, mirrored
from .common import Progress, metrics_json, pct, ts, window_bounds
from .fedramp import fedramp_json, fedramp_pack

# Overlays are measured clock by clock; a report measures every clock of its
# window (the pages cap theirs for speed and say so).
OVERLAY_CAP = 10_000_000


def overlays_json(figures: OverlayFigures) -> list[dict[str, Any]]:
    from apps.sla.overlays import CR26_KEY, OVERLAYS

    rows = []
    cr26_row: dict[str, Any] = {
        "key": CR26_KEY,
        "start_event": "evaluation",
        "spans": [
            {
                "severity": "",
                "span": "the VDR-TFR-PVR window of the class, PAIN, LEV and IRV; "
                "KEV due dates where earlier",
            }
        ],
    }
    static: list[dict[str, Any]] = [
        {
            "key": o.key,
            "start_event": o.start_event,
            "spans": [
                {"severity": s, "span": f"{o.days[s]} days"}
                if s in o.days
                else {"severity": s, "span": f"{o.months[s]} month(s)"}
                for s in SLA_SEVERITIES
                if s in o.days or s in o.months
            ],
        }
        for o in OVERLAYS
    ]
    for overlay in [cr26_row, *static]:
        entry = figures.summary[overlay["key"]]
        counts = entry["counts"]
        rows.append(
            {
                "key": overlay["key"],
                "name": entry["name"],
                "start_event": overlay["start_event"],
                "spans": overlay["spans"],
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


SECTION_OF_KIND: dict[str, str] = {
    EvidenceKind.SLA_LEDGER: "sla",
    EvidenceKind.STIG_SCANS: "stig",
    EvidenceKind.FIPS_MODULES: "fips",
    EvidenceKind.ELS_COVERAGE: "els",
    EvidenceKind.SBOM: "attestations",
    EvidenceKind.VEX: "exemptions",
    EvidenceKind.PROVENANCE: "attestations",
}


def _attestation_kinds(repositories: list[int], end: datetime) -> dict[str, int]:
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


def _attestation_signatures(repositories: list[int], end: datetime) -> dict[str, int]:
    """The signature verdicts of the same attestations ``_attestation_kinds``
    counts: how many in each (every verdict named), and how many untrusted
    because their signer was revoked since ("no longer trusted")."""
    rows = (
        Attestation.objects.filter(
            digest__variant__series__repository_id__in=repositories,
            created_at__lt=end,
        )
        .values("signature_status")
        .annotate(
            n=Count("pk"),
            revoked=Count("pk", filter=Q(signature_check=CHECK_REVOKED)),
        )
        .order_by("signature_status")
    )
    counts = dict.fromkeys(Attestation.SignatureStatus.values, 0)
    counts["no_longer_trusted"] = 0
    for row in rows:
        counts[row["signature_status"]] = row["n"]
        if row["signature_status"] == Attestation.SignatureStatus.UNTRUSTED:
            counts["no_longer_trusted"] = row["revoked"]
    return counts


def _controls(present: dict[str, bool]) -> list[dict]:
    rows = []
    for control in control_map():
        evidence: list[dict[str, Any]] = [
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


def _mirrors(org: Organization, end: datetime) -> list[Mirror]:
    """The mirrors the organization had set up before the window's end."""
    return list(
        Mirror.objects.for_org(org)
        .filter(created_at__lt=end)
        .select_related("repository")
        .order_by("repository__name", "id")
    )


def _mirror_json(mirror: Mirror) -> dict[str, Any]:
    return {
        "repository": mirror.repository.name,
        "include_fips": mirror.include_fips,
        "include_stig": mirror.include_stig,
        "include_els": mirror.include_els,
        "status": mirror.status,
        "since": ts(mirror.created_at),
    }


def _vex_held(mirrors: list[Mirror], end: datetime) -> bool:
    """A VEX statement in force at the window's end names a mirrored repository."""
    return (
        VexStatement.objects.in_force_at(end)
        .filter(
            repository_id__in=[m.repository_id for m in mirrors],
            timestamp__lt=end,
        )
        .exists()
    )


def _present(
    sections: dict[str, Any], appendix: list[dict], mirrors: list[Mirror], end: datetime
) -> dict[str, bool]:
    """Which kinds of evidence the control map may say the report holds."""
    kinds = sections["attestation_kinds"]
    return {
        EvidenceKind.SLA_LEDGER: bool(appendix),
        EvidenceKind.STIG_SCANS: bool(sections["stig"]),
        EvidenceKind.FIPS_MODULES: bool(sections["fips_modules"]),
        EvidenceKind.ELS_COVERAGE: bool(sections["els"]),
        EvidenceKind.SBOM: any(k.startswith("sbom-") for k in kinds),
        EvidenceKind.VEX: bool(sections["exemptions"])
        or "openvex" in kinds
        or _vex_held(mirrors, end),
        EvidenceKind.PROVENANCE: "slsa-provenance" in kinds,
    }


def images_pulled(org: Organization, start: datetime, end: datetime) -> list[dict]:
    """The digests the organization pulled during the window, as the
    registry reported them (what it ran, not only what it mirrored)."""
    return [
        {
            "repository": run.repository,
            "digest": run.digest,
            "image": str(run.image.variant) if run.image is not None else None,
            "first_pulled_at": ts(run.first_pulled_at),
            "last_pulled_at": ts(run.last_pulled_at),
            "pulls": run.pulls,
        }
        for run in images_run_list(org=org, start=start, end=end)
    ]


def _appendix_json(appendix: list[dict]) -> dict[str, Any]:
    states: dict[str, int] = {}
    for row in appendix:
        states[row["state"]] = states.get(row["state"], 0) + 1
    return {
        "count": len(appendix),
        "states": {k: states[k] for k in sorted(states)},
        "clocks": appendix,
    }


def org_compliance_evidence(report: Report, progress: Progress) -> dict[str, Any]:
    org = report.org
    if org is None:
        raise ValueError("A compliance report is for one organization.")
    start, end = window_bounds(report)
    cutoff = report.data_cutoff
    progress(5, "Entitlements held during the window")
    entitlements = _entitlements(org, start, end)
    mirrors = _mirrors(org, end)
    progress(10, "SLA attainment under the contract")
    metrics = sla_metrics(org=org, start=start, end=end)
    progress(20, "SLA attainment under the overlays")
    overlays = sla_overlay_figures(
        org=org, start=start, end=end, now=cutoff, cap=OVERLAY_CAP
    )
    sections: dict[str, Any] = {}
    progress(35, "Breached and missed clocks")
    sections["late_clocks"] = ledger.late_clocks(org, start, end)
    progress(45, "Exemptions")
    sections["exemptions"] = ledger.exemptions(org, start, end)
    progress(50, "FIPS module inventory")
    sections["fips_modules"] = mirrored.fips_modules(
        org, cutoff.astimezone(UTC).date(), mirrors
    )
    progress(55, "STIG results")
    sections["stig"] = mirrored.stig_results(mirrors, end, start)
    progress(60, "Lifecycle and ELS coverage")
    sections["els"] = mirrored.els_coverage(
        mirrors, start.date(), report.window_end or start.date()
    )
    sections["attestation_kinds"] = _attestation_kinds(
        [m.repository_id for m in mirrors], end
    )
    sections["attestation_signatures"] = _attestation_signatures(
        [m.repository_id for m in mirrors], end
    )
    sections["vulnerability_assessment"] = mirrored.vulnerability_assessment(
        mirrors, end, cutoff
    )
    sections["images_pulled"] = images_pulled(org, start, end)
    progress(65, "Appendix of clocks")
    appendix = list(ledger.appendix_rows(org, start, end))
    progress(68, "FedRAMP VER reports and crypto modules")
    fedramp = fedramp_json(fedramp_pack(org=org, start=start, end=end, mirrors=mirrors))
    progress(70, "Control map")
    controls = _controls(_present(sections, appendix, mirrors, end))
    return {
        "org": {"name": org.name, "slug": org.slug},
        "period": {"start": ts(start), "end": ts(end)},
        "entitlements": entitlements,
        "mirrors": [_mirror_json(m) for m in mirrors],
        "sla": {
            "contract": metrics_json(metrics),
            "overlays": overlays_json(overlays),
        },
        **sections,
        "fedramp": fedramp,
        "controls": controls,
        "appendix": _appendix_json(appendix),
    }
