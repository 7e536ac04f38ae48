"""Keeping the ledger complete: the reconciliation sweep that opens clocks a
lost trigger missed, and the recorded runs of the ledger's invariants."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.entitlements.models import Mirror
from apps.entitlements.selectors import entitlement_cache
from apps.orgs.models import Organization

from .. import ledger_checks
from ..models import LedgerCheckRun, SlaClock
from .advisories import sla_clocks_follow_findings, unfollowed_findings
from .clocks import (
    sla_clocks_open_for_mirror,
    sla_clocks_resume_for_vex,
    sla_clocks_stop_for_unmirrored,
)

# A run keeps this many violations (the count is always whole).
KEPT_VIOLATIONS = 500


def sla_ledger_reconcile(
    *, orgs: list[Organization] | None = None, now: datetime | None = None
) -> dict[str, int]:
    """Open every clock the ledger lacks, resume clocks left stopped on
    repositories mirrored again, stop clocks left running on repositories
    no longer mirrored, and bring clocks in line with their findings'
    advisories (withdrawn, in force again, a fix now known); each repair is
    an audit event naming the org and the clocks. Idempotent: a complete
    ledger changes nothing and records nothing."""
    now = now or timezone.now()
    opened = _open_missing(orgs=orgs, now=now)
    resumed = _resume_mirrored_again(orgs=orgs, now=now)
    stopped = _stop_unmirrored(orgs=orgs, now=now)
    followed = _follow_advisories(orgs=orgs, now=now)
    resumed += _resume_vex_out_of_force(orgs=orgs, now=now)
    return {
        "opened": opened,
        "stopped": stopped,
        "resumed": resumed,
        "followed": followed,
    }


def _open_missing(*, orgs: list[Organization] | None, now: datetime) -> int:
    """Open the clocks each gap of the ledger lacks, one audited repair per
    mirror; how many clocks were opened."""
    opened = 0
    with entitlement_cache():
        for gap in ledger_checks.ledger_gaps(at=now, orgs=orgs):
            if gap.no_policy:
                continue
            with transaction.atomic():
                mirror = (
                    Mirror.objects.for_org(gap.org)
                    .select_related("org", "repository")
                    .get(repository_id=gap.repository_id)
                )
                before = SlaClock.objects.for_org(gap.org).count()
                sla_clocks_open_for_mirror(mirror=mirror, now=now)
                added = SlaClock.objects.for_org(gap.org).count() - before
                if added:
                    opened += added
                    audit_record(
                        action=AuditEvent.Action.SLA_LEDGER_REPAIRED,
                        org=gap.org,
                        target=mirror,
                        details={
                            "repository": gap.repository,
                            "clocks_opened": added,
                            "missing_before": gap.missing,
                        },
                    )
    return opened


def _resume_mirrored_again(*, orgs: list[Organization] | None, now: datetime) -> int:
    """Clocks stopped when their repository was unmirrored, mirrored again
    since (the resume was lost): opening for the mirror resumes them. How
    many were resumed."""
    paused = (
        SlaClock.objects.filter(
            state=SlaClock.State.EXEMPT, stop_reason=SlaClock.StopReason.UNMIRRORED
        )
        .values_list("org_id", "finding__digest__variant__series__repository_id")
        .distinct()
    )
    resumed = 0
    for org_id, repository_id in sorted(set(paused)):
        resumable = (
            Mirror.objects.filter(org_id=org_id, repository_id=repository_id)
            .select_related("org", "repository")
            .first()
        )
        if resumable is None or (orgs is not None and resumable.org not in orgs):
            continue
        unmirrored = SlaClock.objects.filter(
            org_id=org_id, stop_reason=SlaClock.StopReason.UNMIRRORED
        )
        before = unmirrored.count()
        sla_clocks_open_for_mirror(mirror=resumable, now=now)
        resumed += before - unmirrored.count()
    return resumed


def _stop_unmirrored(*, orgs: list[Organization] | None, now: datetime) -> int:
    """Stop clocks left running on repositories no longer mirrored."""
    running = (
        SlaClock.objects.filter(state__in=SlaClock.RUNNING)
        .values_list("org_id", "finding__digest__variant__series__repository_id")
        .distinct()
    )
    mirrored = set(Mirror.objects.values_list("org_id", "repository_id"))
    stopped = 0
    for org_id, repository_id in sorted(set(running) - mirrored):
        org = Organization.objects.get(pk=org_id)
        if orgs is not None and org not in orgs:
            continue
        stopped += sla_clocks_stop_for_unmirrored(
            org=org, repository_id=repository_id, now=now
        )
    return stopped


def _follow_advisories(*, orgs: list[Organization] | None, now: datetime) -> int:
    """Bring clocks in line with their findings' advisories."""
    unfollowed = unfollowed_findings(orgs=orgs)
    if not unfollowed:
        return 0
    moved = sla_clocks_follow_findings(finding_ids=unfollowed, now=now)
    return sum(moved.values())


def _resume_vex_out_of_force(*, orgs: list[Organization] | None, now: datetime) -> int:
    """Clocks stopped by a VEX statement whose document has left force
    (superseded or withdrawn) since: the resume was lost."""
    out_of_force = ledger_checks.vex_stopped_out_of_force(at=now)
    if orgs is not None:
        out_of_force = out_of_force.filter(org__in=orgs)
    statements = sorted(set(out_of_force.values_list("vex_statement_id", flat=True)))
    if not statements:
        return 0
    return sla_clocks_resume_for_vex(
        statement_ids=statements,
        reason="ledger sweep: the VEX document left force",
        now=now,
    )


def sla_ledger_check_run(
    *, now: datetime | None = None, trigger: str = "command"
) -> LedgerCheckRun:
    """Run every invariant and record the run (the staff pages show the last)."""
    started = now or timezone.now()
    counts, violations = ledger_checks.ledger_violations(at=started)
    return LedgerCheckRun.objects.create(
        started_at=started,
        finished_at=timezone.now(),
        checks=counts,
        violations=[v.as_dict() for v in violations[:KEPT_VIOLATIONS]],
        violation_count=len(violations),
        trigger=trigger,
    )
