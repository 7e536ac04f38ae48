"""The same ledger measured against the customer's own obligations.

Each overlay is data: a start event and, per severity, a span (calendar days
or calendar months) in UTC. A severity an overlay does not name is outside it.
Overlays read the finding's stored timestamps and never change a clock.

- FedRAMP RA-5(d): high 30, moderate 90, low 180 days from discovery (the
  publisher's detection of the affected digest); critical counts as high.
- PCI DSS 6.3.3: critical and high within one month of the fix's release
  (the upstream fix).
- CRA checklist: critical 7, high 30, medium 90 days from detection, the time
  the publisher became aware of the vulnerability in its product.

An overlay whose start event has no timestamp starts at detection, as clocks
do, and says so.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from . import clock as arithmetic


@dataclass(frozen=True)
class Overlay:
    key: str
    name: str
    start_event: str
    days: dict[str, int]
    months: dict[str, int]


OVERLAYS = (
    Overlay(
        key="fedramp_ra5d",
        name="FedRAMP RA-5(d)",
        start_event=arithmetic.DETECTION,
        days={"critical": 30, "high": 30, "medium": 90, "low": 180},
        months={},
    ),
    Overlay(
        key="pci_dss_633",
        name="PCI DSS 6.3.3",
        start_event=arithmetic.UPSTREAM_FIX,
        days={},
        months={"critical": 1, "high": 1},
    ),
    Overlay(
        key="cra",
        name="CRA checklist",
        start_event=arithmetic.DETECTION,
        days={"critical": 7, "high": 30, "medium": 90},
        months={},
    ),
)

OPEN = "open"
BREACHED = "breached"
MET = "met"
MISSED = "missed"
EXEMPT = "exempt"
NOT_APPLICABLE = "not_applicable"


@dataclass(frozen=True)
class OverlayResult:
    key: str
    name: str
    start_event: str | None
    started_at: datetime | None
    due_at: datetime | None
    status: str


def add_months(when: datetime, months: int) -> datetime:
    """The same day and time ``months`` later; a day the month lacks becomes
    its last day (31 January + 1 month = 28 or 29 February)."""
    index = when.month - 1 + months
    year, month = when.year + index // 12, index % 12 + 1
    day = min(when.day, calendar.monthrange(year, month)[1])
    return when.replace(year=year, month=month, day=day)


def overlay_due(
    overlay: Overlay, severity: str, events: arithmetic.Events
) -> tuple[str, datetime, datetime] | None:
    """(start event used, start, due), or None when the severity is outside."""
    if severity in overlay.days:
        event, start = arithmetic.clock_start(events, overlay.start_event)
        return event, start, start + timedelta(days=overlay.days[severity])
    if severity in overlay.months:
        event, start = arithmetic.clock_start(events, overlay.start_event)
        return event, start, add_months(start, overlay.months[severity])
    return None


def measure(
    *,
    severity: str,
    events: arithmetic.Events,
    fixed_at: datetime | None,
    exempt: bool,
    now: datetime,
    overlays: Iterable[Overlay] = OVERLAYS,
) -> list[OverlayResult]:
    """Each overlay's due and status as of ``now``. A fix decides (met or
    missed) even for an exempt clock: the overlay asks when the fix shipped."""
    results = []
    for overlay in overlays:
        found = overlay_due(overlay, severity, events)
        if found is None:
            results.append(
                OverlayResult(
                    overlay.key, overlay.name, None, None, None, NOT_APPLICABLE
                )
            )
            continue
        event, start, due = found
        if fixed_at is not None and fixed_at <= now:
            status = MET if fixed_at <= due else MISSED
        elif exempt:
            status = EXEMPT
        else:
            status = BREACHED if due <= now else OPEN
        results.append(
            OverlayResult(overlay.key, overlay.name, event, start, due, status)
        )
    return results


def clock_overlays(clock, *, now: datetime) -> list[OverlayResult]:
    """A clock's overlays; the clock needs its finding, the finding's
    vulnerability and digest loaded (select_related) to cost no query."""
    finding = clock.finding
    events = arithmetic.Events(
        disclosed_at=finding.disclosed_at or finding.vulnerability.disclosed_at,
        upstream_fix_at=finding.upstream_fix_at,
        detected_at=finding.detected_at,
        released_at=finding.digest.built_at,
    )
    return measure(
        severity=clock.severity,
        events=events,
        fixed_at=finding.fixed_published_at,
        exempt=clock.state == "exempt",
        now=now,
    )


# The columns ``overlay_attainment_rows`` reads, in order, from a clock.
ROW_FIELDS = (
    "severity",
    "state",
    "finding__disclosed_at",
    "finding__vulnerability__disclosed_at",
    "finding__upstream_fix_at",
    "finding__detected_at",
    "finding__digest__built_at",
    "finding__fixed_published_at",
)


def overlay_attainment_rows(rows: Iterable[tuple], *, now: datetime) -> dict:
    """``overlay_summary`` of ``values_list(*ROW_FIELDS)`` rows: the figures
    ``clock_overlays`` gives clock by clock, without building three model
    instances per clock."""
    return overlay_summary(
        measure(
            severity=severity,
            events=arithmetic.Events(
                disclosed_at=disclosed or vulnerability_disclosed,
                upstream_fix_at=upstream_fix,
                detected_at=detected,
                released_at=built,
            ),
            fixed_at=fixed,
            exempt=state == "exempt",
            now=now,
        )
        for (
            severity,
            state,
            disclosed,
            vulnerability_disclosed,
            upstream_fix,
            detected,
            built,
            fixed,
        ) in rows
    )


def overlay_summary(measured: Iterable[list[OverlayResult]]) -> dict[str, dict]:
    """Per overlay, from each clock's results: counts by status and compliance
    % (met over met, missed and breached)."""
    summary: dict[str, dict] = {
        o.key: {"name": o.name, "counts": {}, "percent": None} for o in OVERLAYS
    }
    for results in measured:
        for result in results:
            counts = summary[result.key]["counts"]
            counts[result.status] = counts.get(result.status, 0) + 1
    for entry in summary.values():
        counts = entry["counts"]
        judged = counts.get(MET, 0) + counts.get(MISSED, 0) + counts.get(BREACHED, 0)
        if judged:
            entry["percent"] = round(100 * counts.get(MET, 0) / judged, 1)
    return summary
