"""SLA tasks: ids in, one service call each. All idempotent."""

from __future__ import annotations

from celery import shared_task

from apps.core.metrics import SLA_TRANSITIONS_SECONDS
from apps.entitlements.models import Mirror
from apps.entitlements.selectors import entitlement_cache
from apps.orgs.models import Organization
from apps.vulns.models import VexStatement

from .selectors.desk import DeskFilters, desk_default_window, sla_desk_summary
from .services import (
    sla_clocks_exempt_by_vex,
    sla_clocks_follow_findings,
    sla_clocks_open_for_entitlement,
    sla_clocks_open_for_mirror,
    sla_clocks_open_for_repositories,
    sla_clocks_resume_for_vex,
    sla_clocks_stop_for_unmirrored,
    sla_ledger_check_run,
    sla_ledger_reconcile,
    sla_transitions_run,
)


@shared_task(name="sla.transitions_run", time_limit=300, soft_time_limit=270)
def transitions_run() -> dict[str, int]:
    """Idempotent: each UPDATE only moves clocks not yet in the target state,
    so an overlapping or repeated run changes nothing further. Then the staff
    desk's default figures are recomputed, so its first page stays fast."""
    with SLA_TRANSITIONS_SECONDS.time():
        moved = sla_transitions_run()
        start, end = desk_default_window()
        sla_desk_summary(filters=DeskFilters(), start=start, end=end, refresh=True)
    return moved


@shared_task(
    name="sla.clocks_open_for_mirror",
    acks_late=True,
    time_limit=900,
    soft_time_limit=870,
)
def clocks_open_for_mirror(mirror_id: int) -> int:
    mirror = Mirror.objects.select_related("org", "repository").filter(pk=mirror_id)
    found = mirror.first()
    if found is None:  # removed before the task ran
        return 0
    with entitlement_cache():
        return sla_clocks_open_for_mirror(mirror=found)


@shared_task(
    name="sla.clocks_open_for_org",
    acks_late=True,
    time_limit=1800,
    soft_time_limit=1770,
)
def clocks_open_for_org(org_id: int) -> int:
    org = Organization.objects.filter(pk=org_id).first()
    if org is None:
        return 0
    with entitlement_cache():
        return sla_clocks_open_for_entitlement(org=org)


@shared_task(
    name="sla.clocks_open_for_digests",
    acks_late=True,
    time_limit=3600,
    soft_time_limit=3500,
)
def clocks_open_for_digests(digest_ids: list[int] | None) -> int:
    with entitlement_cache():
        return sla_clocks_open_for_repositories(digest_ids=digest_ids)


@shared_task(
    name="sla.clocks_exempt_by_vex", acks_late=True, time_limit=900, soft_time_limit=870
)
def clocks_exempt_by_vex(statement_ids: list[int]) -> int:
    statements = (
        VexStatement.objects.in_force()
        .filter(pk__in=statement_ids, status=VexStatement.Status.NOT_AFFECTED)
        .order_by("pk")
    )
    return sum(sla_clocks_exempt_by_vex(statement=s) for s in statements)


@shared_task(
    name="sla.clocks_follow_vex", acks_late=True, time_limit=900, soft_time_limit=870
)
def clocks_follow_vex(
    withdrawn_ids: list[int], stored_ids: list[int], reason: str
) -> int:
    """Idempotent: resuming touches only clocks still stopped by the withdrawn
    statements, exempting only clocks still running."""
    resumed = sla_clocks_resume_for_vex(statement_ids=withdrawn_ids, reason=reason)
    return resumed + clocks_exempt_by_vex(stored_ids)


@shared_task(
    name="sla.clocks_stop_for_unmirrored",
    acks_late=True,
    time_limit=900,
    soft_time_limit=870,
)
def clocks_stop_for_unmirrored(org_id: int, repository_id: int) -> int:
    org = Organization.objects.filter(pk=org_id).first()
    if org is None:
        return 0
    return sla_clocks_stop_for_unmirrored(org=org, repository_id=repository_id)


@shared_task(
    name="sla.clocks_follow_findings",
    acks_late=True,
    time_limit=900,
    soft_time_limit=870,
)
def clocks_follow_findings(finding_ids: list[int]) -> dict[str, int]:
    """Idempotent: each step moves only clocks not yet where the findings'
    advisories put them."""
    with entitlement_cache():
        return sla_clocks_follow_findings(finding_ids=finding_ids)


@shared_task(
    name="sla.ledger_reconcile", acks_late=True, time_limit=3600, soft_time_limit=3500
)
def ledger_reconcile() -> dict[str, int]:
    """Idempotent: opens only clocks that do not exist, stops only clocks
    still running on unmirrored repositories."""
    return sla_ledger_reconcile()


@shared_task(name="sla.ledger_check", time_limit=3600, soft_time_limit=3500)
def ledger_check(trigger: str = "beat") -> int:
    return sla_ledger_check_run(trigger=trigger).violation_count
