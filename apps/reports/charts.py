"""Charts for the printed reports, drawn as inline SVG (no script, no fonts
beyond the document's), so they stay sharp on paper and archive as vectors."""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape


@dataclass(frozen=True)
class Bar:
    label: str
    percent: str | None  # "83.3", or None when nothing was judged
    note: str  # e.g. "5 of 6 judged"
    group: str


_INK = "#1f2a37"
_MUTED = "#6b7280"
_RULE = "#d1d5db"


def _fill_for(percent: float) -> str:
    return "#1e3a5f" if percent >= 90 else "#3d5a80" if percent >= 75 else "#9b2c2c"


def attainment_chart(
    bars: list[Bar],
    *,
    width: int = 640,
    row: int = 22,
    label_width: int = 150,
    note_width: int = 110,
    target: float | None = None,
) -> str:
    """Horizontal bars from 0 to 100 %, one row per bar, rows grouped under
    a heading per group; ``target`` draws a dashed line (e.g. 95 %)."""
    plot = width - label_width - note_width
    groups: list[str] = []
    for bar in bars:
        if bar.group not in groups:
            groups.append(bar.group)
    height = 24 + len(bars) * row + len(groups) * row + 18
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" class="chart" '
        'role="img" font-family="DejaVu Sans" font-size="10">'
    ]
    top = 12
    for tick in range(0, 101, 25):
        x = label_width + plot * tick / 100
        parts.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" '
            f'y2="{height - 18}" stroke="{_RULE}" stroke-width="0.6"/>'
            f'<text x="{x:.1f}" y="{height - 6}" fill="{_MUTED}" '
            f'text-anchor="middle" font-size="8">{tick} %</text>'
        )
    y = top
    for group in groups:
        parts.append(
            f'<text x="0" y="{y + 14}" fill="{_INK}" font-weight="bold" '
            f'font-size="9.5">{escape(group)}</text>'
        )
        y += row
        for bar in (b for b in bars if b.group == group):
            parts.append(
                f'<text x="{label_width - 8}" y="{y + 14}" fill="{_INK}" '
                f'text-anchor="end">{escape(bar.label)}</text>'
            )
            if bar.percent is None:
                parts.append(
                    f'<text x="{label_width + 4}" y="{y + 14}" fill="{_MUTED}" '
                    'font-style="italic">nothing judged</text>'
                )
            else:
                value = float(bar.percent)
                length = plot * max(0.0, min(value, 100.0)) / 100
                # The figure sits inside a long bar, after a short one.
                inside = length > 48
                x = label_width + length + (-4 if inside else 4)
                parts.append(
                    f'<rect x="{label_width}" y="{y + 4}" width="{length:.1f}" '
                    f'height="{row - 8}" fill="{_fill_for(value)}"/>'
                    f'<text x="{x:.1f}" y="{y + 14}" '
                    f'fill="{"#ffffff" if inside else _INK}" font-weight="bold" '
                    f'text-anchor="{"end" if inside else "start"}">'
                    f"{escape(bar.percent)} %</text>"
                )
            parts.append(
                f'<text x="{width}" y="{y + 14}" fill="{_MUTED}" '
                f'text-anchor="end" font-size="8.5">{escape(bar.note)}</text>'
            )
            y += row
    if target is not None:
        x = label_width + plot * target / 100
        parts.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{height - 18}" '
            f'stroke="{_INK}" stroke-width="0.8" stroke-dasharray="3 2"/>'
        )
    parts.append("</svg>")
    return "".join(parts)
