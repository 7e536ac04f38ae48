"""Reports printed to PDF/A-3b by WeasyPrint from Django templates.

The HTML is made from the evidence alone (never from the database), so the
document says exactly what the embedded ``evidence.json`` says. The document
is laid out once: its pages are counted from that layout and the same layout
is written out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import segno
from django.conf import settings
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from .charts import Bar, attainment_chart
from .formats.pdfa import write_pdf
from .links import verify_url
from .models import Report

TEMPLATES: dict[str, str] = {
    Report.Kind.ORG_COMPLIANCE: "reports/pdf/org_compliance.html",
    Report.Kind.IMAGE_DOSSIER: "reports/pdf/image_dossier.html",
    Report.Kind.SLA_PERFORMANCE: "reports/pdf/sla_performance.html",
}
SEVERITY_LABELS = {
    "critical": "Critical",
    "high": "High",
    "medium": "Medium",
    "low": "Low",
}
STATE_LABELS = {
    "open": "Open",
    "at_risk": "At risk",
    "breached": "Breached",
    "met": "Met",
    "missed": "Missed",
    "exempt": "Exempt",
}

START_EVENTS = {
    "evaluation": "the organization's evaluation (CR26)",
    "detection": "detection",
    "upstream_fix": "the upstream fix",
    "disclosure": "disclosure",
    "release": "the affected build's release",
}

Progress = Callable[[int, str], None]


@dataclass(frozen=True)
class RenderedPdf:
    content: bytes
    pages: int


# --- formatting ----------------------------------------------------------------


def _parse(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def when(value: str | None) -> str:
    """``2026-03-02 09:00`` (UTC) for an evidence timestamp; a dash for none."""
    moment = _parse(value)
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "\u2014"


def on(value: str | None) -> str:
    moment = _parse(value)
    return moment.strftime("%Y-%m-%d") if moment else "\u2014"


def duration(seconds: int | None) -> str:
    if seconds is None:
        return "\u2014"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f}\u00a0h"
    return f"{seconds / 86400:.1f}\u00a0d"


def percent(value: str | None) -> str:
    return f"{value} %" if value is not None else "\u2014"


def long_date(value: str | None) -> str:
    if not value:
        return "\u2014"
    moment = date.fromisoformat(value)
    return f"{moment.day} {moment:%B %Y}"


def qr_svg(url: str) -> str:
    return segno.make(url, error="m").svg_inline(
        scale=2.4, border=0, dark="#111827", omitsize=False
    )


# --- contexts per kind ---------------------------------------------------------


def _figures_rows(block: dict) -> list[dict]:
    return [
        {
            **row,
            "label": SEVERITY_LABELS.get(row["severity"], "All severities"),
            "attainment_text": percent(row["attainment"]),
            "mttr_median": duration(row["mttr_median_seconds"]),
            "mttr_p90": duration(row["mttr_p90_seconds"]),
            "is_total": row["severity"] == "all",
        }
        for row in [*block["severities"], {"severity": "all", **block["overall"]}]
    ]


def _attainment_bars(evidence: dict) -> list[Bar]:
    contract = evidence["sla"]["contract"]
    bars = [
        Bar(
            SEVERITY_LABELS[row["severity"]],
            row["attainment"],
            f"{row['met']} of {row['judged']} met",
            "Contract SLA, by severity",
        )
        for row in contract["severities"]
    ]
    overall = contract["overall"]
    bars.append(
        Bar(
            "All severities",
            overall["attainment"],
            f"{overall['met']} of {overall['judged']} met",
            "Contract SLA, by severity",
        )
    )
    for overlay in evidence["sla"]["overlays"]:
        met = overlay["counts"].get("met", 0)
        bars.append(
            Bar(
                overlay["name"],
                overlay["attainment"],
                f"{met} of {overlay['judged']} met",
                "Regulatory overlays, all severities in scope",
            )
        )
    return bars


def _timeline(entries: list[dict]) -> list[dict]:
    return [{**e, "when": when(e["at"]) if e["at"] else "unknown"} for e in entries]


def _clock_view(clock: dict) -> dict:
    return {
        **clock,
        "severity_label": SEVERITY_LABELS.get(clock["severity"], clock["severity"]),
        "state_label": STATE_LABELS.get(clock["state"], clock["state"]),
        "started": when(clock["started_at"]),
        "due": when(clock["due_at"]),
        "stopped": when(clock["stopped_at"]),
        "timeline": _timeline(clock.get("timeline", [])),
        "timeline_text": _timeline_text(clock.get("timeline", [])),
        "justification_text": (
            clock["vex"]["justification"].replace("_", " ").capitalize()
            if clock.get("vex")
            else ""
        ),
    }


# The appendix is a fixed-width listing, a block of lines per LISTING_ROWS
# clocks under its own header: one element per block instead of one per
# cell keeps a 10,000-clock appendix cheap to lay out (time and memory).
LISTING_ROWS = 50
LISTING_COLUMNS = (
    ("Clock", 8, ">"),
    ("Vulnerability", 20, "<"),
    ("Image", 30, "<"),
    ("Severity", 9, "<"),
    ("State", 9, "<"),
    ("Started", 17, "<"),
    ("Due", 17, "<"),
    ("Stopped", 17, "<"),
)


def _cell(value: str, width: int, align: str) -> str:
    if len(value) > width - 1:
        value = value[: width - 2] + "\u2026"
    return value.rjust(width - 1) + " " if align == ">" else value.ljust(width)


def _listing_line(values: list[str]) -> str:
    return "".join(
        _cell(v, w, a) for v, (_, w, a) in zip(values, LISTING_COLUMNS, strict=True)
    ).rstrip()


def _appendix_blocks(clocks: list[dict]) -> list[str]:
    lines = [
        _listing_line(
            [
                str(c["id"]),
                c["cve_id"],
                c["image"],
                SEVERITY_LABELS.get(c["severity"], c["severity"]),
                STATE_LABELS.get(c["state"], c["state"]),
                when(c["started_at"]),
                when(c["due_at"]),
                when(c["stopped_at"]),
            ]
        )
        for c in clocks
    ]
    return [
        "\n".join(lines[i : i + LISTING_ROWS])
        for i in range(0, len(lines), LISTING_ROWS)
    ]


def _timeline_text(entries: list[dict]) -> str:
    parts = []
    for e in entries:
        if not e["at"]:
            continue
        text = f"{e['label']} {when(e['at'])}"
        if e["key"] in ("started", "due") and e["note"]:
            text += f" ({e['note']})"
        parts.append(text)
    return " \u00b7 ".join(parts)


def _assessment_line(block: dict) -> str:
    """``2 of 3 latest builds assessed; 1 not assessed``."""
    states = block["states"]
    total = sum(states.values())
    if not total:
        return "No build of a mirrored repository"
    parts = [
        f"{states.get('assessed', 0)} of {total} latest "
        f"build{'' if total == 1 else 's'} assessed"
    ]
    if states.get("partial"):
        parts.append(f"{states['partial']} partially assessed")
    if states.get("not_assessed"):
        parts.append(f"{states['not_assessed']} not assessed")
    return "; ".join(parts)


def _ver_row(detail: dict, accepted: dict | None = None) -> dict[str, Any]:
    """One vulnerability of a VER document, as the report's table shows it."""
    deadlines = detail.get("deadlines", {})
    if detail.get("closedAt"):
        status = detail.get("finalDisposition") or (
            "Remediated" if detail.get("remediation") else "Closed"
        )
        status += f" {on(detail['closedAt'])}"
    elif accepted is not None:
        status = f"Accepted {on(detail.get('acceptedAt'))}"
    elif detail["overdueStatus"]["isOverdue"]:
        status = "Overdue"
    elif "evaluationCompletedAt" not in detail:
        status = "Awaiting evaluation"
    else:
        status = "Open"
    irv = detail.get("isInternetReachable")
    return {
        "id": detail["providerTrackingId"],
        "vulnerability": detail["vulnerabilityIds"][0],
        "image": detail["affectedImage"].split("@")[0],
        "detected": on(detail["detection"]["detectedAt"]),
        "evaluated": on(detail.get("evaluationCompletedAt")),
        "rating": f"N{detail['currentRating']}" if "currentRating" in detail else "",
        "irv": "" if irv is None else ("IRV" if irv else "NIRV"),
        "lev": "LEV" if detail["isLikelyExploitable"] else "NLEV",
        "due": on(deadlines.get("dueAt")),
        "status": status,
        "overdue": detail["overdueStatus"]["isOverdue"],
        "explanation": detail["overdueStatus"].get("explanation", ""),
        "rationale": accepted["acceptanceRationale"] if accepted else "",
        "reductions": [
            f"N{r['rating']} on {on(r['reducedAt'])}" for r in detail["painReductions"]
        ],
    }


def _fedramp_context(block: dict | None) -> dict[str, Any]:
    """The VER section: the documents the report carries, for people."""
    if not block or not block.get("certification_class"):
        return {"applies": False, "files": (block or {}).get("files", {})}
    documents = block["documents"]
    rows = [_ver_row(d) for d in documents["vdt"]["vulnerabilities"]]
    accepted = [
        _ver_row(a["vulnerabilityDetail"], a)
        for a in documents["avi"]["acceptedVulnerabilities"]
    ]
    return {
        "applies": True,
        "certification_class": block["certification_class"],
        "package_uri": block["package_uri"],
        "rules": block["rules"],
        "timeframes": [
            (t["pain"], [t["spans"][c] for c in ("LEV + IRV", "LEV + NIRV", "NLEV")])
            for t in block["rules"]["timeframes"]
        ],
        "summary": block["summary"],
        "rows": rows,
        "accepted": accepted,
        "reductions": [
            (row["id"], row["vulnerability"], reduction)
            for row in rows + accepted
            for reduction in row["reductions"]
        ],
        "files": block["files"],
        "period": documents["vdt"]["reportPeriod"],
    }


def _org_compliance_context(evidence: dict) -> dict[str, Any]:
    contract = evidence["sla"]["contract"]
    overall = contract["overall"]
    late = [_clock_view(c) for c in evidence["late_clocks"]]
    exemptions = [_clock_view(c) for c in evidence["exemptions"]]
    controls = evidence["controls"]
    supported = sum(1 for c in controls if c["supported"])
    stig_totals = [0, 0, 0, 0]
    for build in evidence["stig"]:
        for scan in build["scans"]:
            stig_totals = [
                a + b for a, b in zip(stig_totals, scan["totals"], strict=True)
            ]
    return {
        "contract_rows": _figures_rows(contract),
        "overall": overall,
        "overall_attainment": percent(overall["attainment"]),
        "overall_mttr": duration(overall["mttr_median_seconds"]),
        "overall_p90": duration(overall["mttr_p90_seconds"]),
        "overlays": [
            {
                **o,
                "attainment_text": percent(o["attainment"]),
                "start_text": START_EVENTS.get(o["start_event"], o["start_event"]),
            }
            for o in evidence["sla"]["overlays"]
        ],
        "chart": mark_safe(  # noqa: S308 - drawn here, labels escaped
            attainment_chart(_attainment_bars(evidence))
        ),
        "entitlements": [
            {
                **e,
                "starts": on(e["starts_at"]),
                "ends": on(e["ends_at"]) if e["ends_at"] else "open-ended",
                "scope": e["repository"] or "All repositories",
            }
            for e in evidence["entitlements"]
        ],
        "late": late,
        "breached_count": sum(1 for c in late if c["state"] == "breached"),
        "missed_count": sum(1 for c in late if c["state"] == "missed"),
        "exemptions": exemptions,
        "fips": evidence["fips_modules"],
        "assessment_line": _assessment_line(evidence["vulnerability_assessment"]),
        "stig": evidence["stig"],
        "stig_totals": stig_totals,
        "els": evidence["els"],
        "els_gaps": [
            r for r in evidence["els"] if r["coverage"] in ("partial", "none")
        ],
        "controls": controls,
        "controls_supported": supported,
        "ver": _fedramp_context(evidence.get("fedramp")),
        "appendix_blocks": _appendix_blocks(evidence["appendix"]["clocks"]),
        "appendix_header": _listing_line([name for name, _, _ in LISTING_COLUMNS]),
        "appendix_states": [
            (STATE_LABELS.get(k, k), v)
            for k, v in evidence["appendix"]["states"].items()
        ],
    }


def _image_dossier_context(evidence: dict) -> dict[str, Any]:
    return {
        "built": when(evidence["image"]["built_at"]) + " UTC",
        "findings": [
            {
                **f,
                "severity_label": SEVERITY_LABELS.get(f["severity"], f["severity"]),
                "detected": on(f["detected_at"]),
            }
            for f in evidence["findings"]
        ],
        "attestations": [
            {**a, "created": when(a["created_at"])} for a in evidence["attestations"]
        ],
    }


def _sla_performance_context(evidence: dict) -> dict[str, Any]:
    customers = []
    for c in evidence["customers"]:
        overall = c["overall"]
        customers.append(
            {
                **c,
                "o": overall,
                "attainment_text": percent(overall["attainment"]),
                "mttr": duration(overall["mttr_median_seconds"]),
                "credits": f"{c['credits_cents'] / 100:,.2f}",
            }
        )
    return {
        "all_rows": _figures_rows(evidence["all_customers"]),
        "customers": customers,
    }


CONTEXTS: dict[str, Callable[[dict], dict[str, Any]]] = {
    Report.Kind.ORG_COMPLIANCE: _org_compliance_context,
    Report.Kind.IMAGE_DOSSIER: _image_dossier_context,
    Report.Kind.SLA_PERFORMANCE: _sla_performance_context,
}


def report_html(report: Report, evidence: dict, *, evidence_sha256: str) -> str:
    """The final HTML the PDF is laid out from."""
    template = TEMPLATES.get(report.kind)
    if template is None:
        raise ValueError(f"No printed form for reports of kind {report.kind!r}.")
    header = evidence["report"]
    window = header.get("window")
    url = verify_url(report)
    context = {
        "e": evidence,
        "r": header,
        "title": header["title"],
        "window_text": (
            f"{window['start']} to {window['end']}" if window else "Single image"
        ),
        "window_long": (
            f"{long_date(window['start'])} \u2013 {long_date(window['end'])}"
            if window
            else ""
        ),
        "cutoff": when(header["data_cutoff"]) + " UTC",
        "verify_url": url,
        "qr": mark_safe(qr_svg(url)),  # noqa: S308 - segno's own markup
        "evidence_sha256": evidence_sha256,
        "site_name": getattr(settings, "SITE_NAME", "Hardened Images"),
        **CONTEXTS[report.kind](evidence),
    }
    return render_to_string(template, context)


def render_pdf(
    report: Report,
    evidence: dict,
    *,
    evidence_json: bytes,
    progress: Progress | None = None,
) -> RenderedPdf:
    """The report as an unsigned PDF/A-3b with ``evidence_json`` embedded as
    ``evidence.json``."""
    progress = progress or (lambda percent, stage: None)
    progress(75, "Composing the document")
    html = report_html(
        report, evidence, evidence_sha256=hashlib.sha256(evidence_json).hexdigest()
    )
    progress(80, "Laying out the pages")
    content, pages = write_pdf(
        html,
        evidence_json=evidence_json,
        created=report.data_cutoff,
        base_url=str(settings.BASE_DIR),
    )
    progress(95, "Document written")
    return RenderedPdf(content=content, pages=pages)
