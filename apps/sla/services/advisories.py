"""Clocks following their findings' advisories.

A revision of an advisory can withdraw a finding (the advisory was withdrawn,
or no longer names the component), bring it back (published again), or give
it its upstream fix time. The clocks on those findings follow:

- a running clock on a withdrawn finding stops as exempt, reason "advisory
  withdrawn", with the finding's own reason (kept, never deleted);
- a clock so stopped runs again when its finding is back in force, in the
  state its unchanged deadline gives (as an unmirrored clock resumes); if the
  org no longer mirrors the repository meanwhile, it stays stopped as
  unmirrored, to resume when it is mirrored again;
- a running clock that fell back from the upstream fix (none was known when
  it opened) starts again from the fix once one is known, under its own
  policy version; each such correction is audited with the times it replaced.

Idempotent: a second run over the same findings changes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.entitlements.models import Mirror
from apps.orgs.models import Organization
from apps.vulns.models import Finding

from .. import clock as arithmetic
from ..models import SlaClock, StartEvent
from .clocks import _coverage_start, _Opener
from .transitions import resumed_fields

Action = AuditEvent.Action
State = SlaClock.State
CHUNK = 2000
WITHDRAWN = "advisory withdrawn"


def _chunks(items: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def _orgs(ids: Iterable[int]) -> dict[int, Organization]:
    return Organization.objects.in_bulk(sorted(set(ids)))


def unfollowed_findings(*, orgs: list[Organization] | None = None) -> list[int]:
    """Findings whose clocks did not follow their advisory (a lost task):
    running on a withdrawn finding, stopped for a withdrawal no longer in
    force, or still counting from detection though the fix is now known."""
    clocks = SlaClock.objects.all()
    if orgs is not None:
        clocks = clocks.filter(org__in=orgs)
    stale = (
        Q(state__in=SlaClock.RUNNING, finding__status=Finding.Status.WITHDRAWN)
        | (
            Q(state=State.EXEMPT, stop_reason=SlaClock.StopReason.ADVISORY_WITHDRAWN)
            & ~Q(finding__status=Finding.Status.WITHDRAWN)
        )
        | Q(
            state__in=SlaClock.RUNNING,
            policy_version__start_event=StartEvent.UPSTREAM_FIX,
            start_event=arithmetic.DETECTION,
            finding__upstream_fix_at__isnull=False,
        )
    )
    return sorted(set(clocks.filter(stale).values_list("finding_id", flat=True)))


@transaction.atomic
def sla_clocks_follow_findings(
    *, finding_ids: Iterable[int], now: datetime | None = None
) -> dict[str, int]:
    """Stop, resume or restart the clocks on these findings as their
    advisories now say (see the module's docstring)."""
    now = now or timezone.now()
    ids = sorted(set(finding_ids))
    return {
        "stopped": _stop_withdrawn(ids, now),
        "resumed": _resume_in_force(ids, now),
        "restarted": _restart_from_fix(ids, now),
    }


def _stop_withdrawn(ids: list[int], now: datetime) -> int:
    by_reason: dict[str, list[int]] = defaultdict(list)
    by_org: dict[int, list[int]] = defaultdict(list)
    for chunk in _chunks(ids):
        for pk, org_id, reason in SlaClock.objects.filter(
            finding_id__in=chunk,
            state__in=SlaClock.RUNNING,
            finding__status=Finding.Status.WITHDRAWN,
        ).values_list("pk", "org_id", "finding__withdrawn_reason"):
            by_reason[reason or "The advisory was withdrawn."].append(pk)
            by_org[org_id].append(pk)
    stopped = 0
    for reason, pks in by_reason.items():
        for chunk in _chunks(pks):
            stopped += SlaClock.objects.filter(
                pk__in=chunk, state__in=SlaClock.RUNNING
            ).update(
                state=State.EXEMPT,
                stopped_at=now,
                stop_reason=SlaClock.StopReason.ADVISORY_WITHDRAWN,
                exempt_reason=reason,
            )
    orgs = _orgs(by_org)
    for org_id, pks in sorted(by_org.items()):
        audit_record(
            action=Action.SLA_CLOCK_EXEMPTED,
            org=orgs[org_id],
            details={"reason": WITHDRAWN, "clocks": sorted(pks)},
        )
    return stopped


def _resume_in_force(ids: list[int], now: datetime) -> int:
    rows: list[tuple[int, int, int]] = []
    for chunk in _chunks(ids):
        rows += (
            SlaClock.objects.filter(
                finding_id__in=chunk,
                state=State.EXEMPT,
                stop_reason=SlaClock.StopReason.ADVISORY_WITHDRAWN,
            )
            .exclude(finding__status=Finding.Status.WITHDRAWN)
            .values_list(
                "pk", "org_id", "finding__digest__variant__series__repository_id"
            )
        )
    if not rows:
        return 0
    mirrored = set(
        Mirror.objects.filter(org_id__in={org for _, org, _ in rows}).values_list(
            "org_id", "repository_id"
        )
    )
    resume = [pk for pk, org, repo in rows if (org, repo) in mirrored]
    # No longer mirrored: stopped for that instead, so mirroring resumes it.
    unmirrored = [pk for pk, org, repo in rows if (org, repo) not in mirrored]
    waiting = SlaClock.StopReason.ADVISORY_WITHDRAWN
    resumed = 0
    for chunk in _chunks(resume):
        resumed += SlaClock.objects.filter(
            pk__in=chunk, state=State.EXEMPT, stop_reason=waiting
        ).update(**resumed_fields(now))
    for chunk in _chunks(unmirrored):
        SlaClock.objects.filter(
            pk__in=chunk, state=State.EXEMPT, stop_reason=waiting
        ).update(
            stop_reason=SlaClock.StopReason.UNMIRRORED,
            exempt_reason="The repository is no longer mirrored.",
        )
    by_org: dict[int, list[int]] = defaultdict(list)
    for pk, org, _ in rows:
        by_org[org].append(pk)
    orgs = _orgs(by_org)
    for org_id, pks in sorted(by_org.items()):
        audit_record(
            action=Action.SLA_CLOCKS_RESUMED,
            org=orgs[org_id],
            details={
                "reason": "advisory in force again",
                "clocks": sorted(set(pks) & set(resume)),
                "still_unmirrored": sorted(set(pks) & set(unmirrored)),
            },
        )
    return resumed


def _times(clock: SlaClock) -> dict[str, Any]:
    return {
        "start_event": clock.start_event,
        "started_at": clock.started_at.isoformat(),
        "due_at": clock.due_at.isoformat(),
        "state": clock.state,
    }


def _restart_from_fix(ids: list[int], now: datetime) -> int:
    clocks: list[SlaClock] = []
    for chunk in _chunks(ids):
        clocks += (
            SlaClock.objects.filter(
                finding_id__in=chunk,
                state__in=SlaClock.RUNNING,
                policy_version__start_event=StartEvent.UPSTREAM_FIX,
                finding__upstream_fix_at__isnull=False,
            )
            .exclude(start_event=arithmetic.UPSTREAM_FIX)
            .select_related(
                "org",
                "policy_version",
                "finding__vulnerability",
                "finding__digest__variant__series",
            )
        )
    coverage: dict[tuple[int, int], datetime] = {}
    corrected: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for clock in clocks:
        repository_id = clock.finding.digest.variant.series.repository_id
        key = (clock.org_id, repository_id)
        if key not in coverage:
            coverage[key] = _coverage_start(clock.org, repository_id, now)
        built = _Opener(clock.org, clock.policy_version, coverage[key], now).build(
            clock.finding
        )
        if built is None or (built.start_event, built.started_at) == (
            clock.start_event,
            clock.started_at,
        ):
            continue
        was = _times(clock)
        for name in (
            "start_event",
            "started_at",
            "due_at",
            "at_risk_at",
            "kev_capped",
            "state",
        ):
            setattr(clock, name, getattr(built, name))
        clock.save(
            update_fields=[
                "start_event",
                "started_at",
                "due_at",
                "at_risk_at",
                "kev_capped",
                "state",
            ]
        )
        corrected[clock.org_id].append(
            {"clock": clock.pk, "was": was, "now": _times(clock)}
        )
    orgs = {clock.org_id: clock.org for clock in clocks}
    for org_id, changes in sorted(corrected.items()):
        audit_record(
            action=Action.SLA_LEDGER_REPAIRED,
            org=orgs[org_id],
            details={
                "correction": "clock started from the upstream fix",
                "clocks": changes,
            },
        )
    return sum(len(c) for c in corrected.values())
