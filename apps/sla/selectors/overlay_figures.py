"""Overlay attainment (the spans measured from a finding's own timestamps,
and CR26 from the organization's evaluation) over a window's clocks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from apps.orgs.models import Organization

from ..models import SlaClock
from ..overlays import ROW_FIELDS, overlay_attainment_rows
from .fedramp import CR26_FIELDS, cr26_of_row, fedramp_evaluations, fedramp_inputs

# Overlays are measured in Python (their spans are months and days from the
# finding's own timestamps); a window's overlay figures read at most this
# many clocks, the most recently started first.
OVERLAY_CLOCK_CAP = 5000


@dataclass
class OverlayFigures:
    summary: dict[str, dict]
    measured: int
    total: int

    @property
    def capped(self) -> bool:
        return self.measured < self.total


def sla_overlay_figures(
    *,
    org: Organization,
    start: datetime,
    end: datetime,
    now: datetime,
    cap: int = OVERLAY_CLOCK_CAP,
) -> OverlayFigures:
    """Overlay attainment over the clocks started in [start, end): at most
    ``cap`` of them, the most recently started, read in chunks with only the
    timestamps the overlays need. Three queries (the count, the organization's
    FedRAMP class, the clocks), two more for a FedRAMP customer (its
    repositories' IRV and PAIN, its clocks' evaluations)."""
    in_window = SlaClock.objects.for_org(org).filter(
        started_at__gte=start, started_at__lt=end
    )
    total = in_window.count()
    inputs = fedramp_inputs(org=org)
    evaluations = fedramp_evaluations(org=org) if inputs.profiles else {}
    rows = in_window.order_by("-started_at", "-id").values_list(
        *ROW_FIELDS, *CR26_FIELDS
    )[:cap]
    width = len(ROW_FIELDS)
    overlay_rows: list[tuple] = []
    measures = []
    for row in rows.iterator(chunk_size=1000):
        overlay_rows.append(row[:width])
        measures.append(
            cr26_of_row(row[width:], inputs=inputs, overrides=evaluations, as_of=now)
        )
    summary = overlay_attainment_rows(overlay_rows, now=now, cr26_measures=measures)
    return OverlayFigures(summary=summary, measured=min(total, cap), total=total)
