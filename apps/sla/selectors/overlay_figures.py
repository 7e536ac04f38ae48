"""Overlay attainment (the spans measured from a finding's own timestamps)
over a window's clocks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from apps.orgs.models import Organization

from ..models import SlaClock
from ..overlays import ROW_FIELDS, overlay_attainment_rows

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
    timestamps the overlays need. Two queries."""
    in_window = SlaClock.objects.for_org(org).filter(
        started_at__gte=start, started_at__lt=end
    )
    total = in_window.count()
    rows = in_window.order_by("-started_at", "-id").values_list(*ROW_FIELDS)[:cap]
    summary = overlay_attainment_rows(rows.iterator(chunk_size=1000), now=now)
    return OverlayFigures(summary=summary, measured=min(total, cap), total=total)
