"""How the staff SLA pages show figures: durations, percentages, money, the
metrics table and the trend chart's coordinates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError

from ..models import SLA_SEVERITIES
from ..selectors.metrics import Metrics, TrendMonth
from ..staff_forms import parse_cursor


def duration_text(value: timedelta | None) -> str:
    """A duration as people read it: "3d 4h", "5h 10m", "—"."""
    if value is None:
        return "—"
    minutes = int(value.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m"


def percent_text(value: float | None) -> str:
    return "—" if value is None else f"{value:g} %"


def metrics_rows(metrics: Metrics) -> list[dict[str, Any]]:
    """One row per severity, then the overall one."""
    rows = []
    named = [(s, metrics.severities.get(s)) for s in SLA_SEVERITIES]
    for name, figures in [*named, ("all", metrics.overall)]:
        if figures is None:
            continue
        rows.append(
            {
                "severity": name,
                "met": figures.met,
                "missed": figures.missed,
                "breached": figures.breached,
                "attainment": percent_text(figures.attainment),
                "mttr_median": duration_text(figures.mttr_median),
                "mttr_p90": duration_text(figures.mttr_p90),
                "open_breaches": figures.open_breaches,
                "at_risk": figures.at_risk,
            }
        )
    return rows


def cents_text(cents: int) -> str:
    return f"${cents // 100:,}.{cents % 100:02d}"


# The trend chart's geometry, in SVG user units.
CHART_W, CHART_H = 720, 240
PAD_L, PAD_R, PAD_T, PAD_B = 44, 52, 12, 28


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    w: float
    h: float
    cx: float
    label: str
    title: str


def trend_chart(trend: list[TrendMonth]) -> dict[str, Any]:
    """Coordinates for an inline SVG: attainment bars on the left axis (0 to
    100 %), median time to fix as a line on the right axis (days)."""
    plot_w = CHART_W - PAD_L - PAD_R
    plot_h = CHART_H - PAD_T - PAD_B
    base = PAD_T + plot_h
    slot = plot_w / max(len(trend), 1)
    days = [
        m.mttr_median.total_seconds() / 86400 if m.mttr_median is not None else None
        for m in trend
    ]
    top_days = max([d for d in days if d is not None] or [1.0])
    top_days = max(1, int(top_days) + (0 if top_days == int(top_days) else 1))
    bars, points, dots = [], [], []
    for i, month in enumerate(trend):
        x = PAD_L + i * slot
        label = month.month.strftime("%b %y")
        percent = month.attainment
        height = plot_h * (percent or 0) / 100
        title = (
            f"{month.month:%B %Y}: attainment {percent_text(percent)} "
            f"({month.met} met, {month.missed} missed, {month.breached} breached); "
            f"median time to fix {duration_text(month.mttr_median)}"
        )
        bars.append(
            Bar(
                round(x + slot * 0.2, 1),
                round(base - height, 1),
                round(slot * 0.6, 1),
                round(height, 1),
                round(x + slot / 2, 1),
                label,
                title,
            )
        )
        if days[i] is not None:
            cx = round(x + slot / 2, 1)
            cy = round(base - plot_h * days[i] / top_days, 1)
            points.append(f"{cx},{cy}")
            dots.append({"cx": cx, "cy": cy, "title": title})
    grid = [
        {"y": round(base - plot_h * p / 100, 1), "label": f"{p} %"}
        for p in (0, 25, 50, 75, 100)
    ]
    return {
        "width": CHART_W,
        "height": CHART_H,
        "left": PAD_L,
        "right": CHART_W - PAD_R,
        "label_x": PAD_L - 6,
        "right_label_x": CHART_W - PAD_R + 6,
        "label_y": CHART_H - 8,
        "bars": bars,
        "grid": grid,
        "line": " ".join(points),
        "dots": dots,
        "top_days": top_days,
        "top_y": PAD_T + 4,
        "has_data": any(m.met + m.missed + m.breached for m in trend),
    }


def with_status(response, form) -> Any:
    if form.errors:
        response.status_code = 400
    return response


def cursor_from(raw: str) -> tuple[Any, int] | None:
    try:
        return parse_cursor(raw)
    except ValidationError:
        return None
