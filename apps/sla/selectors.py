"""Reads of the SLA ledger: metrics for a window and service credits owed.

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

from apps.billing.models import Price
from apps.orgs.models import Organization

from .models import SLA_SEVERITIES, SlaClock, SlaPolicyAssignment, SlaPolicyVersion

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


# --- service credits ---------------------------------------------------------


@dataclass(frozen=True)
class CreditLine:
    month: date
    policy_version: str
    breaches: int
    fee_cents: int
    percent_per_breach: int
    cap_percent: int | None
    credit_cents: int


@dataclass
class Credits:
    org: Organization
    lines: list[CreditLine] = field(default_factory=list)

    @property
    def total_cents(self) -> int:
        return sum(line.credit_cents for line in self.lines)


def monthly_fee_cents(*, org: Organization, version: SlaPolicyVersion) -> int:
    """The fee a version's credits are a percentage of: the fee written in the
    org's latest assignment of the policy, else the policy's plan's monthly
    list price in US cents; 0 when neither is known."""
    assigned = (
        SlaPolicyAssignment.objects.for_org(org)
        .filter(policy_id=version.policy_id, monthly_fee_cents__isnull=False)
        .order_by("-effective_from", "-id")
        .values_list("monthly_fee_cents", flat=True)
        .first()
    )
    if assigned is not None:
        return assigned
    plan_id = version.policy.plan_id
    if plan_id is None:
        return 0
    price = (
        Price.objects.filter(
            plan_id=plan_id, interval=Price.Interval.MONTH, currency="usd", active=True
        )
        .values_list("amount", flat=True)
        .first()
    )
    return price or 0


def sla_credits_owed(*, org: Organization, start: datetime, end: datetime) -> Credits:
    """Credits owed for deadlines that passed unmet in [start, end): per
    calendar month (UTC) and policy version, breaches times the version's
    percentage of the monthly fee, capped at the version's cap for the month.
    Breaches are clocks still breached and clocks fixed late (missed)."""
    if start >= end:
        raise ValueError("The window must end after it starts.")
    rows = (
        SlaClock.objects.for_org(org)
        .filter(
            state__in=[State.BREACHED, State.MISSED],
            due_at__gte=start,
            due_at__lt=end,
            policy_version__credit_percent_per_breach__gt=0,
        )
        .annotate(month=TruncMonth("due_at", tzinfo=UTC))
        .values("policy_version_id", "month")
        .annotate(breaches=Count("pk"))
        .order_by("month", "policy_version_id")
    )
    credits = Credits(org=org)
    versions: dict[int, SlaPolicyVersion] = {}
    fees: dict[int, int] = {}
    for row in rows:
        pk = row["policy_version_id"]
        if pk not in versions:
            versions[pk] = SlaPolicyVersion.objects.select_related("policy").get(pk=pk)
            fees[pk] = monthly_fee_cents(org=org, version=versions[pk])
        version, fee = versions[pk], fees[pk]
        percent = version.credit_percent_per_breach or 0
        amount = row["breaches"] * percent * fee // 100
        if version.credit_cap_percent is not None:
            amount = min(amount, version.credit_cap_percent * fee // 100)
        month = row["month"]
        credits.lines.append(
            CreditLine(
                month=month.date() if isinstance(month, datetime) else month,
                policy_version=str(version),
                breaches=row["breaches"],
                fee_cents=fee,
                percent_per_breach=percent,
                cap_percent=version.credit_cap_percent,
                credit_cents=amount,
            )
        )
    return credits


def sla_credits_owed_all(*, start: datetime, end: datetime) -> list[Credits]:
    """Credits per org, for the orgs with a credited breach in the window."""
    org_ids = (
        SlaClock.objects.filter(
            state__in=[State.BREACHED, State.MISSED],
            due_at__gte=start,
            due_at__lt=end,
            policy_version__credit_percent_per_breach__gt=0,
        )
        .values_list("org_id", flat=True)
        .distinct()
    )
    return [
        sla_credits_owed(org=org, start=start, end=end)
        for org in Organization.objects.filter(pk__in=org_ids).order_by("pk")
    ]
