"""The same ledger measured against the customer's own obligations.

Each overlay is data: a start event and, per severity, a span (calendar days
or calendar months) in UTC. A severity an overlay does not name is outside it.
Overlays read the finding's stored timestamps and never change a clock.

- FedRAMP RA-5(d), legacy: high 30, moderate 90, low 180 days from
  discovery (the publisher's detection of the affected digest); critical
  counts as high. FedRAMP's windows before the Consolidated Rules for 2026.
- FedRAMP CR26: not a fixed span but the organization's own evaluation
  (class, PAIN, LEV, IRV) under VDR and VER, measured by ``apps/sla/cr26.py``
  from the inputs in ``apps/sla/selectors/fedramp.py``; it joins the others
  here as one more result (``cr26_result``).
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
from . import cr26


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
        name="FedRAMP RA-5(d) (legacy)",
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
# CR26's own: not fully mitigated or remediated within 192 days of evaluation.
ACCEPTED = cr26.ACCEPTED
STATUSES = (OPEN, BREACHED, MET, MISSED, EXEMPT, ACCEPTED, NOT_APPLICABLE)

CR26_KEY = "fedramp_cr26"
CR26_NAME = "FedRAMP CR26"
# Every overlay's key and name, in the order pages list them.
NAMES = {CR26_KEY: CR26_NAME, **{o.key: o.name for o in OVERLAYS}}


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


def cr26_result(result: cr26.Result) -> OverlayResult:
    """A clock's CR26 measure as an overlay row: due at the earliest of its
    evaluation deadline (until evaluated), its window and its KEV due date,
    measured from its evaluation (or detection, until evaluated)."""
    if not result.applies:
        return OverlayResult(CR26_KEY, CR26_NAME, None, None, None, NOT_APPLICABLE)
    start: datetime | None
    if result.evaluated_at is not None:
        event, start = "evaluation", result.evaluated_at
    else:
        event, start = arithmetic.DETECTION, result.start_at
    return OverlayResult(
        CR26_KEY, CR26_NAME, event, start, result.due_at, result.status
    )


def clock_overlays(
    clock, *, now: datetime, cr26_measure: cr26.Result | None = None
) -> list[OverlayResult]:
    """A clock's overlays, CR26's first when its measure is given; the clock
    needs its finding, the finding's vulnerability and digest loaded
    (select_related) to cost no query."""
    finding = clock.finding
    events = arithmetic.Events(
        disclosed_at=finding.disclosed_at or finding.vulnerability.disclosed_at,
        upstream_fix_at=finding.upstream_fix_at,
        detected_at=finding.detected_at,
        released_at=finding.digest.built_at,
    )
    results = measure(
        severity=clock.severity,
        events=events,
        fixed_at=finding.fixed_published_at,
        exempt=clock.state == "exempt",
        now=now,
    )
    if cr26_measure is not None:
        results.insert(0, cr26_result(cr26_measure))
    return results


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


def overlay_attainment_rows(
    rows: Iterable[tuple], *, now: datetime, cr26_measures: Iterable | None = None
) -> dict:
    """``overlay_summary`` of ``values_list(*ROW_FIELDS)`` rows: the figures
    ``clock_overlays`` gives clock by clock, without building three model
    instances per clock. ``cr26_measures``, when given, holds each row's
    CR26 measure in the same order."""
    measures = iter(cr26_measures) if cr26_measures is not None else None

    def each():
        for (
            severity,
            state,
            disclosed,
            vulnerability_disclosed,
            upstream_fix,
            detected,
            built,
            fixed,
        ) in rows:
            results = measure(
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
            if measures is not None:
                results.insert(0, cr26_result(next(measures)))
            yield results

    return overlay_summary(each())


def overlay_summary(measured: Iterable[list[OverlayResult]]) -> dict[str, dict]:
    """Per overlay, from each clock's results: counts by status and compliance
    % (met over met, missed and breached)."""
    summary: dict[str, dict] = {
        key: {"name": name, "counts": {}, "percent": None}
        for key, name in NAMES.items()
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
