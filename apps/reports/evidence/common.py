"""JSON values of the evidence (times, days, decimals, percentages, durations)
and the pieces several kinds of report share: the window, SLA figures, a STIG
scan."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from apps.sla.models import SLA_SEVERITIES
from apps.sla.selectors.metrics import Metrics, SeverityFigures
from apps.stig.models import StigScan
from apps.stig.selectors import STATUSES, scan_summary

from ..models import Report

CHUNK = 2000

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


# --- shared sections -------------------------------------------------------------


def figures_json(figures: SeverityFigures) -> dict[str, Any]:
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


def metrics_json(metrics: Metrics) -> dict[str, Any]:
    return {
        "severities": [
            {"severity": severity, **figures_json(metrics.severities[severity])}
            for severity in SLA_SEVERITIES
            if severity in metrics.severities
        ],
        "overall": figures_json(metrics.overall),
    }


def scan_json(scan: StigScan) -> dict[str, Any]:
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
