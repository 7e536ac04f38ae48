"""Reads of the SLA ledger: metrics for a window and service credits owed.

Counts are SQL aggregates in one query. The MTTR percentiles are
``percentile_cont`` on PostgreSQL; SQLite (the embedded default) has no
ordered-set aggregate, so there the durations are read and the same
interpolation is done in Python.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.core.cache import cache
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
from django.utils import timezone

from apps.billing.models import FeatureKey, Price
from apps.entitlements.models import Entitlement
from apps.entitlements.selectors import (
    FEATURE_ACTIVE,
    FEATURE_LAPSED,
    FEATURE_NEVER,
    feature_state,
)
from apps.orgs.models import Organization
from apps.vulns.models import Finding

from .models import (
    SLA_SEVERITIES,
    LedgerCheckRun,
    SlaClock,
    SlaPolicyAssignment,
    SlaPolicyVersion,
)

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


# --- the customer's ledger: lists, one clock, trend, overlays ---------------

SLA_ENTITLEMENT_ACTIVE = FEATURE_ACTIVE
SLA_ENTITLEMENT_LAPSED = FEATURE_LAPSED
SLA_ENTITLEMENT_NEVER = FEATURE_NEVER

# Overlays are measured in Python (their spans are months and days from the
# finding's own timestamps); a window's overlay figures read at most this
# many clocks, the most recently started first.
OVERLAY_CLOCK_CAP = 5000


def sla_entitlement_state(*, org: Organization, now: datetime) -> str:
    """Whether the org holds the sla entitlement now, held it once, or never."""
    return feature_state(org=org, feature="sla", now=now)


@dataclass(frozen=True)
class ClockFilter:
    state: str = ""
    severity: str = ""
    repository: str = ""
    kev: bool | None = None
    q: str = ""


_CLOCK_ROW = (
    "finding__vulnerability",
    "finding__digest__variant__series__repository",
    "policy_version__policy",
)


def _filtered(
    org: Organization, filters: ClockFilter, *, with_state: bool = True
) -> QuerySet[SlaClock]:
    clocks = SlaClock.objects.for_org(org)
    if with_state and filters.state:
        clocks = clocks.filter(state=filters.state)
    if filters.severity:
        clocks = clocks.filter(severity=filters.severity)
    if filters.repository:
        clocks = clocks.filter(
            finding__digest__variant__series__repository__name=filters.repository
        )
    if filters.kev is not None:
        clocks = clocks.filter(finding__vulnerability__kev=filters.kev)
    if filters.q:
        # Any id a customer may know it by: the CVE, a GHSA, PYSEC or distro id.
        clocks = clocks.filter(
            Q(finding__vulnerability__vuln_id__icontains=filters.q)
            | Q(finding__vulnerability__aliases__icontains=filters.q)
        )
    return clocks


def sla_clock_list(*, org: Organization, filters: ClockFilter) -> QuerySet[SlaClock]:
    """The org's clocks as filtered, with what a table row shows loaded:
    running clocks by deadline, then decided ones, most recently stopped
    first."""
    clocks = _filtered(org, filters).select_related(*_CLOCK_ROW)
    # Running clocks (no stop time) come first, by deadline.
    return clocks.order_by(F("stopped_at").desc(nulls_first=True), "due_at", "-id")


def sla_clock_state_counts(
    *, org: Organization, filters: ClockFilter
) -> dict[str, int]:
    """Clocks per state under every filter but the state, in one query."""
    rows = (
        _filtered(org, filters, with_state=False)
        .values("state")
        .annotate(n=Count("pk"))
        .order_by("state")
    )
    counts = dict.fromkeys(State.values, 0)
    for row in rows:
        counts[row["state"]] = row["n"]
    return counts


def sla_clock_repositories(*, org: Organization) -> list[str]:
    """Names of the repositories the org's clocks are on, for a filter."""
    return list(
        SlaClock.objects.for_org(org)
        .values_list("finding__digest__variant__series__repository__name", flat=True)
        .distinct()
        .order_by("finding__digest__variant__series__repository__name")
    )


def sla_clock_get(*, org: Organization, pk: int) -> SlaClock:
    """One clock of the org with everything its timeline names; another
    org's clock raises SlaClock.DoesNotExist."""
    from django.db.models import Prefetch

    from .models import SlaWaiver

    return (
        SlaClock.objects.for_org(org)
        .select_related(
            *_CLOCK_ROW,
            "finding__component",
            "finding__fixed_in__variant__series",
            "finding__upstream_fix_revision__vulnerability",
            "vex_statement__document",
            "vex_statement__digest",
            "waiver__requested_by",
            "waiver__approved_by",
        )
        .prefetch_related(
            Prefetch(
                "waivers",
                queryset=SlaWaiver.objects.select_related(
                    "requested_by", "approved_by", "rejected_by"
                ).order_by("-created_at", "-id"),
            )
        )
        .get(pk=pk)
    )


_EARLIEST = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class TimelineEntry:
    key: str
    label: str
    at: datetime | None
    note: str = ""


def upstream_fix_source(finding: Finding) -> str:
    """Where a finding's upstream fix time came from: the first advisory
    revision that named a fixed version, by its ``modified`` time, or by the
    import that brought it when that came first."""
    revision = finding.upstream_fix_revision
    if revision is None or finding.upstream_fix_at is None:
        return ""
    vuln_id = revision.vulnerability.vuln_id
    if revision.modified_at is not None and revision.modified_at == (
        finding.upstream_fix_at
    ):
        return (
            f"a fixed version first appeared in the {vuln_id} record of "
            f"{revision.modified_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC "
            "(its modified time)"
        )
    return (
        f"a fixed version first appeared in the {vuln_id} record imported "
        f"{revision.imported_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    )


def sla_clock_timeline(clock: SlaClock) -> list[TimelineEntry]:
    """The clock's events in time order (unknown times last), read from a
    clock loaded by ``sla_clock_get``."""
    finding = clock.finding
    vuln = finding.vulnerability
    version = clock.policy_version
    start_note = clock.get_start_event_display()
    if clock.start_fell_back:
        start_note += (
            f" (the policy starts from {version.get_start_event_display().lower()},"
            " which could not be used)"
        )
    due_note = f"{version.days_for(clock.severity)} {version.get_day_kind_display()}"
    due_note = due_note.lower()
    if clock.kev_capped:
        due_note += f"; capped by the CISA KEV due date {vuln.kev_due_date}"
    fixed_note = ""
    if finding.fixed_in is not None:
        fixed_note = f"in {finding.fixed_in.digest}"
    stop_note = ""
    if clock.stopped_at is not None:
        stop_note = clock.get_stop_reason_display()
        if clock.exempt_reason:
            stop_note += f": {clock.exempt_reason}"
    entries = [
        TimelineEntry(
            "disclosed", "Disclosed", finding.disclosed_at or vuln.disclosed_at
        ),
        TimelineEntry(
            "upstream_fix",
            "Upstream fix released",
            finding.upstream_fix_at,
            "; ".join(
                part
                for part in (
                    finding.fixed_version and f"version {finding.fixed_version}",
                    upstream_fix_source(finding),
                )
                if part
            ),
        ),
        TimelineEntry("released", "Affected digest released", finding.digest.built_at),
        TimelineEntry("detected", "Detected", finding.detected_at),
        TimelineEntry("started", "Clock started", clock.started_at, start_note),
        TimelineEntry(
            "at_risk",
            "At risk from",
            clock.at_risk_at,
            f"{version.at_risk_percent} % of the time to the deadline",
        ),
        TimelineEntry("due", "Due", clock.due_at, due_note),
        TimelineEntry(
            "fixed", "Fixed digest published", finding.fixed_published_at, fixed_note
        ),
        TimelineEntry("stopped", "Clock stopped", clock.stopped_at, stop_note),
    ]
    known = [e for e in entries if e.at is not None]
    known.sort(key=lambda e: e.at or _EARLIEST)
    return known + [e for e in entries if e.at is None]


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
    from .overlays import ROW_FIELDS, overlay_attainment_rows

    in_window = SlaClock.objects.for_org(org).filter(
        started_at__gte=start, started_at__lt=end
    )
    total = in_window.count()
    rows = in_window.order_by("-started_at", "-id").values_list(*ROW_FIELDS)[:cap]
    summary = overlay_attainment_rows(rows.iterator(chunk_size=1000), now=now)
    return OverlayFigures(summary=summary, measured=min(total, cap), total=total)


# --- the staff desk ------------------------------------------------------------

DESK_STATES = (State.AT_RISK, State.BREACHED)
DESK_PAGE_SIZE = 50


@dataclass(frozen=True)
class DeskFilters:
    """What the staff desk narrows its clocks to; None: no narrowing."""

    states: tuple[str, ...] = DESK_STATES
    severity: str | None = None
    org_id: int | None = None
    repository_id: int | None = None
    kev: bool | None = None


@dataclass
class DeskPage:
    clocks: list[SlaClock]
    next_cursor: tuple[datetime, int] | None


def _desk_rows(filters: DeskFilters) -> QuerySet[SlaClock]:
    rows = SlaClock.objects.all()
    if filters.severity:
        rows = rows.filter(severity=filters.severity)
    if filters.org_id is not None:
        rows = rows.filter(org_id=filters.org_id)
    if filters.repository_id is not None:
        rows = rows.filter(
            finding__digest__variant__series__repository_id=filters.repository_id
        )
    if filters.kev is not None:
        rows = rows.filter(finding__vulnerability__kev=filters.kev)
    return rows


def sla_desk_page(
    *,
    filters: DeskFilters,
    after: tuple[datetime, int] | None = None,
    size: int = DESK_PAGE_SIZE,
) -> DeskPage:
    """One page of clocks ordered by (due_at, id), after the keyset ``after``.

    Each state is read on its own, so every read is a range scan of the
    (state, due_at) index (or (org, state) when one org is asked for) that
    stops after ``size + 1`` rows; the few rows of each are merged here.
    A query per state keeps the page's cost flat however large the ledger.
    """
    base = _desk_rows(filters).select_related(
        "org",
        "policy_version__policy",
        "finding__vulnerability",
        "finding__component",
        "finding__digest__variant__series__repository",
    )
    if after is not None:
        due, pk = after
        base = base.filter(due_at__gte=due).exclude(due_at=due, pk__lte=pk)
    merged: list[SlaClock] = []
    for state in filters.states:
        merged.extend(base.filter(state=state).order_by("due_at", "id")[: size + 1])
    merged.sort(key=lambda clock: (clock.due_at, clock.pk))
    page = merged[:size]
    more = len(merged) > size
    return DeskPage(
        clocks=page, next_cursor=(page[-1].due_at, page[-1].pk) if more else None
    )


def sla_desk_counts(*, filters: DeskFilters) -> dict[str, int]:
    """How many clocks of each desk state match the filters (one query)."""
    counts = _desk_rows(filters).aggregate(
        **{
            state: Count("pk", filter=Q(state=state))
            for state in (State.OPEN, State.AT_RISK, State.BREACHED)
        },
        kev=Count(
            "pk",
            filter=Q(state__in=filters.states, finding__vulnerability__kev=True),
        ),
    )
    return {name: value or 0 for name, value in counts.items()}


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


def sla_waivers_pending(*, limit: int = 200) -> list[Any]:
    """Waivers awaiting a decision, soonest expiry first, with what the page
    shows of their clock (one query)."""
    from .models import SlaWaiver

    return list(
        SlaWaiver.objects.filter(state=SlaWaiver.State.REQUESTED)
        .select_related(
            "requested_by",
            "clock__org",
            "clock__finding__vulnerability",
            "clock__finding__component",
            "clock__finding__digest__variant__series__repository",
        )
        .order_by("expires_at", "id")[:limit]
    )


# --- the desk's summary, kept warm -------------------------------------------

# Desk-wide figures touch every running clock (hundreds of thousands at
# scale), so the desk shows them as of the last transition run (which
# recomputes the default view) or at most this old.
DESK_SUMMARY_SECONDS = 300


@dataclass(frozen=True)
class DeskSummary:
    counts: dict[str, int]
    metrics: Metrics
    computed_at: datetime


def _desk_summary_key(filters: DeskFilters, start: datetime, end: datetime) -> str:
    raw = repr((filters, start.isoformat(), end.isoformat()))
    return "sla:desk-summary:" + hashlib.sha256(raw.encode()).hexdigest()


def sla_desk_summary(
    *,
    filters: DeskFilters,
    start: datetime,
    end: datetime,
    refresh: bool = False,
) -> DeskSummary:
    """Counts for the desk's filters and every customer's metrics for the
    window, from the cache when fresh enough; ``refresh`` recomputes."""
    key = _desk_summary_key(filters, start, end)
    if not refresh:
        cached = cache.get(key)
        if cached is not None:
            return cached
    summary = DeskSummary(
        counts=sla_desk_counts(filters=filters),
        metrics=sla_metrics(start=start, end=end),
        computed_at=timezone.now(),
    )
    cache.set(key, summary, DESK_SUMMARY_SECONDS)
    return summary


def desk_default_window(now: datetime | None = None) -> tuple[datetime, datetime]:
    """The desk's default window: the last 30 UTC days, today included."""
    today = (now or timezone.now()).astimezone(UTC).date()
    start = today - timedelta(days=DESK_DEFAULT_WINDOW_DAYS - 1)
    return (
        datetime(start.year, start.month, start.day, tzinfo=UTC),
        datetime(today.year, today.month, today.day, tzinfo=UTC) + timedelta(days=1),
    )


DESK_DEFAULT_WINDOW_DAYS = 30


# --- the ledger's health --------------------------------------------------------


def ledger_check_last() -> LedgerCheckRun | None:
    return LedgerCheckRun.objects.order_by("-started_at", "-id").first()


@dataclass(frozen=True)
class CustomerRow:
    """An entitled org on the desk's customer list."""

    org: Organization
    open: int
    at_risk: int
    breached: int
    policy: str  # the contract policy's name, "plan default", or "" for none
    gaps: int  # violations of the last ledger check concerning the org

    @property
    def no_policy(self) -> bool:
        return not self.policy


def sla_desk_customers(
    *, now: datetime, last_check: LedgerCheckRun | None
) -> list[CustomerRow]:
    """Every org holding `sla` now, with its running clocks by state, the
    policy that governs it and the ledger check's findings about it. A fixed
    number of queries however many orgs: the bulk form of policy_resolution
    (a contract assignment in effect, else a default policy, which every
    org holding `sla` gets while one of a plan granting `sla` exists)."""
    entitled = (
        Entitlement.objects.live(at=now)
        .filter(feature__key=FeatureKey.SLA)
        .values("org_id")
    )
    orgs = list(Organization.objects.filter(pk__in=entitled).order_by("name", "pk"))
    ids = [org.pk for org in orgs]
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    rows = (
        SlaClock.objects.filter(org_id__in=ids, state__in=SlaClock.RUNNING)
        .values("org_id", "state")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for row in rows:
        counts[row["org_id"]][row["state"]] = row["n"]
    assigned = (
        SlaPolicyAssignment.objects.filter(org_id__in=ids, effective_from__lte=now)
        .filter(Q(effective_to__isnull=True) | Q(effective_to__gt=now))
        .filter(policy__versions__isnull=False)
        .order_by("org_id", "effective_from", "id")
        .values_list("org_id", "policy__name")
    )
    # Ordered by start: the latest-starting wins, as in policy_resolution.
    contracts = dict(assigned)
    has_default = SlaPolicyVersion.objects.filter(
        policy__plan__isnull=False,
        policy__org__isnull=True,
        policy__plan__grants__feature__key=FeatureKey.SLA,
    ).exists()
    gaps: dict[str, int] = defaultdict(int)
    for violation in last_check.violations if last_check else []:
        if violation.get("org"):
            gaps[violation["org"]] += 1
    return [
        CustomerRow(
            org=org,
            open=counts[org.pk].get(State.OPEN, 0),
            at_risk=counts[org.pk].get(State.AT_RISK, 0),
            breached=counts[org.pk].get(State.BREACHED, 0),
            policy=contracts.get(org.pk) or ("plan default" if has_default else ""),
            gaps=gaps[org.slug],
        )
        for org in orgs
    ]
