"""Organizations whose clocks are at risk or breached."""

from __future__ import annotations

from datetime import timedelta

from apps.orgs.models import Role
from apps.sla import services as sla
from apps.sla.models import SlaClock
from tests.factories import MembershipFactory, UserFactory
from tests.sla.builders import NOW, many_findings, mirror, plan_org, repo_and_series

LATER = NOW + timedelta(days=60)


def org_with_clocks(n: int, *, name: str | None = None):
    """A Select org with an owner, an admin and a member, and ``n`` open clocks."""
    org = plan_org("select", name=name)
    for role in (Role.OWNER, Role.ADMIN, Role.MEMBER):
        MembershipFactory(
            org=org, role=role, user=UserFactory(email=f"{role}@{org.slug}.example")
        )
    repo, series = repo_and_series()
    m = mirror(org, repo)
    many_findings(series, n)
    sla.sla_clocks_open_for_mirror(mirror=m, now=NOW)
    return org


def move_to(state: str, org=None):
    """Run the transitions to just past the threshold of ``state``."""
    clocks = SlaClock.objects.all() if org is None else SlaClock.objects.for_org(org)
    first = clocks.order_by("due_at").first()
    at = first.at_risk_at if state == SlaClock.State.AT_RISK else first.due_at
    sla.sla_transitions_run(now=at)
    return at
