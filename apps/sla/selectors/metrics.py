"""Reads of the SLA ledger's figures: metrics for a window, attainment per
month and the monthly trend.

Counts are SQL aggregates in one query. The MTTR percentiles are
``percentile_cont`` on PostgreSQL; SQLite (the embedded default) has no
ordered-set aggregate, so there the durations are read and the same
interpolation is done in Python.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import (
    Aggregate,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
)
from django.db.models.functions import TruncMonth

from apps.orgs.models import Organization

from ..models import SLA_SEVERITIES, SlaClock

State = SlaClock.State


class PercentileCont(Aggregate):
    """PostgreSQL's continuous percentile (linear interpolation)."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression: Any, fraction: float, **extra: Any) -> None:
        if not 0 <= float(fraction) <= 1:
            raise ValueError("A percentile fraction is from 0 to 1.")
        super().__init__(
            expression,
            fraction=repr(float(fraction)),
            output_field=DurationField(),
            **extra,
        )


def percentile(values: list[timedelta], fraction: float) -> timedelta | None:
    """What percentile_cont returns, for a list in memory."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass
class SeverityFigures:
    met: int = 0
    missed: int = 0
    breached: int = 0
    open_breaches: int = 0
    at_risk: int = 0
    mttr_median: timedelta | None = None
    mttr_p90: timedelta | None = None

    @property
    def attainment(self) -> float | None:
        """Met over met, missed and breached in the window; None with none."""
        judged = self.met + self.missed + self.breached
        return round(100 * self.met / judged, 1) if judged else None


@dataclass
class Metrics:
    start: datetime
    end: datetime
    severities: dict[str, SeverityFigures] = field(default_factory=dict)
    overall: SeverityFigures = field(default_factory=SeverityFigures)


def _clocks(org: Organization | None) -> QuerySet[SlaClock]:
    return SlaClock.objects.for_org(org) if org is not None else SlaClock.objects.all()


_DURATION = ExpressionWrapper(
    F("stopped_at") - F("started_at"), output_field=DurationField()
)


def sla_metrics(
    *, start: datetime, end: datetime, org: Organization | None = None
) -> Metrics:
    """Figures for [start, end), for one org or (None) for all.

    Met and missed count by when the fix shipped (stopped_at), breached (still
    unfixed) by when the deadline passed; open breaches and at-risk are the
    ledger's state now. MTTR is fix time minus clock start over met and
    missed clocks fixed in the window.
    """
    if start >= end:
        raise ValueError("The window must end after it starts.")
    clocks = _clocks(org)
    fixed_in_window = Q(
        state__in=[State.MET, State.MISSED], stopped_at__gte=start, stopped_at__lt=end
    )
    counts = (
        clocks.filter(fixed_in_window | Q(state__in=[State.BREACHED, State.AT_RISK]))
        .values("severity")
        .annotate(
            met=Count("pk", filter=Q(fixed_in_window, state=State.MET)),
            missed=Count("pk", filter=Q(fixed_in_window, state=State.MISSED)),
            breached=Count(
                "pk", filter=Q(state=State.BREACHED, due_at__gte=start, due_at__lt=end)
            ),
            open_breaches=Count("pk", filter=Q(state=State.BREACHED)),
            at_risk=Count("pk", filter=Q(state=State.AT_RISK)),
        )
        .order_by("severity")
    )
    metrics = Metrics(start=start, end=end)
    for severity in SLA_SEVERITIES:
        metrics.severities[severity] = SeverityFigures()
    for row in counts:
        figures = metrics.severities.setdefault(row["severity"], SeverityFigures())
        for name in ("met", "missed", "breached", "open_breaches", "at_risk"):
            setattr(figures, name, row[name])
            setattr(metrics.overall, name, getattr(metrics.overall, name) + row[name])
    _mttr(metrics, clocks.filter(fixed_in_window))
    return metrics


def _mttr(metrics: Metrics, fixed: QuerySet[SlaClock]) -> None:
    if connection.vendor == "postgresql":
        figures = {
            "median": PercentileCont(_DURATION, 0.5),
            "p90": PercentileCont(_DURATION, 0.9),
        }
        grouped: Any = fixed.values("severity").annotate(**figures)
        rows: list[dict[str, Any]] = list(grouped.order_by("severity"))
        for row in rows:
            target = metrics.severities.setdefault(row["severity"], SeverityFigures())
            target.mttr_median, target.mttr_p90 = row["median"], row["p90"]
        overall = fixed.aggregate(**figures)
        metrics.overall.mttr_median = overall["median"]
        metrics.overall.mttr_p90 = overall["p90"]
        return
    durations: dict[str, list[timedelta]] = defaultdict(list)
    for severity, started, stopped in fixed.values_list(
        "severity", "started_at", "stopped_at"
    ).iterator(chunk_size=5000):
        if stopped is not None:
            durations[severity].append(stopped - started)
    for severity, values in durations.items():
        target = metrics.severities.setdefault(severity, SeverityFigures())
        target.mttr_median = percentile(values, 0.5)
        target.mttr_p90 = percentile(values, 0.9)
    every = [d for values in durations.values() for d in values]
    metrics.overall.mttr_median = percentile(every, 0.5)
    metrics.overall.mttr_p90 = percentile(every, 0.9)


@dataclass(frozen=True)
class MonthAttainment:
    month: date
    met: int
    missed: int
    breached: int

    @property
    def judged(self) -> int:
        return self.met + self.missed + self.breached

    @property
    def percent(self) -> float | None:
        return round(100 * self.met / self.judged, 1) if self.judged else None


def _month_start(when: datetime) -> date:
    return date(when.year, when.month, 1)


def _months_back(first: date, n: int) -> list[date]:
    months = []
    year, month = first.year, first.month
    for _ in range(n):
        months.append(date(year, month, 1))
        month += 1
        if month == 13:
            year, month = year + 1, 1
    return months


def sla_attainment_by_month(
    *, org: Organization, now: datetime, months: int = 12
) -> list[MonthAttainment]:
    """Attainment per calendar month (UTC), the last ``months`` months up to
    ``now``'s, counted as sla_metrics counts a window: met and missed by the
    month the fix shipped, breached by the month the deadline passed. Two
    grouped queries, whatever the ledger's size."""
    now_utc = now.astimezone(UTC)
    index = now_utc.year * 12 + now_utc.month - 1 - (months - 1)
    first = date(index // 12, index % 12 + 1, 1)
    start = datetime(first.year, first.month, 1, tzinfo=UTC)
    clocks = SlaClock.objects.for_org(org)
    fixed = (
        clocks.filter(state__in=[State.MET, State.MISSED], stopped_at__gte=start)
        .annotate(month=TruncMonth("stopped_at", tzinfo=UTC))
        .values("month")
        .annotate(
            met=Count("pk", filter=Q(state=State.MET)),
            missed=Count("pk", filter=Q(state=State.MISSED)),
        )
        .order_by("month")
    )
    breached = (
        clocks.filter(state=State.BREACHED, due_at__gte=start, due_at__lte=now)
        .annotate(month=TruncMonth("due_at", tzinfo=UTC))
        .values("month")
        .annotate(n=Count("pk"))
        .order_by("month")
    )

    def key(value: date | datetime) -> date:
        return _month_start(value) if isinstance(value, datetime) else value

    figures: dict[date, list[int]] = {m: [0, 0, 0] for m in _months_back(first, months)}
    for row in fixed:
        if (slot := figures.get(key(row["month"]))) is not None:
            slot[0], slot[1] = row["met"], row["missed"]
    for late in breached:
        if (slot := figures.get(key(late["month"]))) is not None:
            slot[2] = late["n"]
    return [MonthAttainment(m, *counts) for m, counts in figures.items()]


@dataclass(frozen=True)
class TrendMonth:
    month: date
    met: int
    missed: int
    breached: int
    mttr_median: timedelta | None

    @property
    def attainment(self) -> float | None:
        judged = self.met + self.missed + self.breached
        return round(100 * self.met / judged, 1) if judged else None


def _trend_month_start(day: date) -> date:
    return day.replace(day=1)


def _trend_add_month(day: date, months: int = 1) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def sla_monthly_trend(
    *, org: Organization | None, end: datetime, months: int = 12
) -> list[TrendMonth]:
    """Attainment and median time to fix per calendar month (UTC) for the
    ``months`` months up to and including ``end``'s, counted as sla_metrics
    counts a window: met and missed by fix time, breached by deadline."""
    last = _trend_month_start(end.astimezone(UTC).date())
    first = _trend_add_month(last, -(months - 1))
    start_at = datetime(first.year, first.month, 1, tzinfo=UTC)
    end_month = _trend_add_month(last)
    end_at = datetime(end_month.year, end_month.month, 1, tzinfo=UTC)
    clocks = _clocks(org)
    fixed = clocks.filter(
        state__in=[State.MET, State.MISSED],
        stopped_at__gte=start_at,
        stopped_at__lt=end_at,
    )
    figures: dict[date, dict[str, Any]] = {
        _trend_add_month(first, i): {"met": 0, "missed": 0, "breached": 0, "mttr": None}
        for i in range(months)
    }

    def key(value: Any) -> date:
        return value.date() if isinstance(value, datetime) else value

    by_fix: Any = (
        fixed.annotate(month=TruncMonth("stopped_at", tzinfo=UTC))
        .values("month")
        .annotate(
            met=Count("pk", filter=Q(state=State.MET)),
            missed=Count("pk", filter=Q(state=State.MISSED)),
        )
    )
    if connection.vendor == "postgresql":
        by_fix = by_fix.annotate(mttr=PercentileCont(_DURATION, 0.5))
    for row in by_fix.order_by("month"):
        month = figures[key(row["month"])]
        month["met"], month["missed"] = row["met"], row["missed"]
        month["mttr"] = row.get("mttr")
    breached = (
        clocks.filter(state=State.BREACHED, due_at__gte=start_at, due_at__lt=end_at)
        .annotate(month=TruncMonth("due_at", tzinfo=UTC))
        .values("month")
        .annotate(n=Count("pk"))
        .order_by("month")
    )
    for row in breached:
        figures[key(row["month"])]["breached"] = row["n"]
    if connection.vendor != "postgresql":
        durations: dict[date, list[timedelta]] = defaultdict(list)
        for started, stopped in fixed.values_list("started_at", "stopped_at").iterator(
            chunk_size=5000
        ):
            if stopped is not None:
                month_of = _trend_month_start(stopped.astimezone(UTC).date())
                durations[month_of].append(stopped - started)
        for month_of, values in durations.items():
            figures[month_of]["mttr"] = percentile(values, 0.5)
    return [
        TrendMonth(
            month=month,
            met=row["met"],
            missed=row["missed"],
            breached=row["breached"],
            mttr_median=row["mttr"],
        )
        for month, row in figures.items()
    ]
