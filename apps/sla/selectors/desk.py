"""The publisher staff's desk: every customer's running clocks by keyset
page, the desk-wide counts and figures kept warm, waivers awaiting a decision,
the entitled customers and the ledger check's last run."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from apps.entitlements.models import Entitlement, FeatureKey
from apps.orgs.models import Organization

from ..models import (
    LedgerCheckRun,
    SlaClock,
    SlaPolicyAssignment,
    SlaPolicyVersion,
    SlaWaiver,
)
from .metrics import Metrics, sla_metrics

State = SlaClock.State


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


def sla_waivers_pending(*, limit: int = 200) -> list[Any]:
    """Waivers awaiting a decision, soonest expiry first, with what the page
    shows of their clock (one query)."""
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
