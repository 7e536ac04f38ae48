"""Service credits owed: breaches per month and policy version, priced at the
version's percentage of the monthly fee."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from django.db.models import Count
from django.db.models.functions import TruncMonth

from apps.billing.models import Price
from apps.orgs.models import Organization

from ..models import SlaClock, SlaPolicyAssignment, SlaPolicyVersion

State = SlaClock.State


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
