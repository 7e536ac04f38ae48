"""The compliance report's sections read from the SLA ledger: the clocks
breached or missed in the window (each with its timeline), the exemptions
(VEX or waiver) and appendix A, every clock of the window as a flat row."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db.models import Q

from apps.catalog.models import Variant
from apps.orgs.models import Organization
from apps.sla.models import SlaClock
from apps.sla.selectors.clocks import sla_clock_timeline
from apps.vulns.models import other_vuln_ids, preferred_vuln_id

from .common import CHUNK, ts

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


def late_clocks(org: Organization, start: datetime, end: datetime) -> list[dict]:
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
            for e in sla_clock_timeline(clock)
        ]
        rows.append(entry)
    return rows


def _person(user) -> str | None:
    if user is None:
        return None
    return user.get_full_name() or user.email


def exemptions(org: Organization, start: datetime, end: datetime) -> list[dict]:
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
