"""The periodic transitions: a few bulk UPDATEs move every clock to its
state as of now."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import Case, Exists, OuterRef, Value, When
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.vulns.models import Finding

from ..models import (
    SlaClock,
    SlaWaiver,
)

Action = AuditEvent.Action
State = SlaClock.State

# --- transitions -----------------------------------------------------------------


def resumed_fields(now: datetime) -> dict[str, Any]:
    """The UPDATE that makes stopped clocks run again, each in the state its
    own (unchanged) deadline gives at ``now``."""
    return {
        "state": Case(
            When(due_at__lte=now, then=Value(State.BREACHED)),
            When(at_risk_at__lte=now, then=Value(State.AT_RISK)),
            default=Value(State.OPEN),
        ),
        "stopped_at": None,
        "stop_reason": "",
        "exempt_reason": "",
    }


def _expire_waivers(now: datetime) -> tuple[int, int]:
    """Resume the clocks whose waiver expired; mark the waivers expired.

    The deadline stays where it was: it is the contract's, and the issue gives
    a waiver an expiry "after which the clock resumes", not a new deadline. A
    clock whose deadline passed while waived resumes breached.
    """
    expired = SlaWaiver.objects.filter(
        state__in=[SlaWaiver.State.REQUESTED, SlaWaiver.State.APPROVED],
        expires_at__lte=now,
    )
    approved = expired.filter(state=SlaWaiver.State.APPROVED)
    resumed = SlaClock.objects.filter(
        state=State.EXEMPT,
        stop_reason=SlaClock.StopReason.WAIVER,
        waiver__in=approved.values("pk"),
    ).update(**resumed_fields(now))
    rows = list(expired.select_related("clock__org").order_by("pk"))
    if not rows:
        return 0, resumed
    SlaWaiver.objects.filter(pk__in=[w.pk for w in rows]).update(
        state=SlaWaiver.State.EXPIRED, expired_at=now
    )
    # One event per waiver: few expire per run, and each is a decision
    # someone made whose end belongs in the record.
    for waiver in rows:
        audit_record(
            action=Action.SLA_WAIVER_EXPIRED,
            org=waiver.clock.org,
            target=waiver,
            details={
                "clock": waiver.clock_id,
                "was": waiver.state,
                "expires_at": waiver.expires_at.isoformat(),
            },
        )
    return len(rows), resumed


# One pass over the running clocks whose finding has shipped a fix: met when
# the fix came by the deadline, missed when after. On PostgreSQL a single
# UPDATE ... FROM joins the finding once per clock.
_STOP_FIXED_SQL = """
WITH moved AS (
    UPDATE sla_slaclock AS c
    SET state = CASE WHEN f.fixed_published_at <= c.due_at
                     THEN %(met)s ELSE %(missed)s END,
        stopped_at = f.fixed_published_at,
        stop_reason = %(reason)s
    FROM vulns_finding AS f
    WHERE f.id = c.finding_id
      AND f.fixed_published_at IS NOT NULL
      AND c.state = ANY(%(running)s)
    RETURNING c.state
)
SELECT state, count(*) FROM moved GROUP BY state
"""


def _stop_fixed() -> tuple[int, int]:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                _STOP_FIXED_SQL,
                {
                    "met": State.MET,
                    "missed": State.MISSED,
                    "reason": SlaClock.StopReason.FIXED,
                    "running": [str(s) for s in SlaClock.RUNNING],
                },
            )
            counts = dict(cursor.fetchall())
        return counts.get(State.MET, 0), counts.get(State.MISSED, 0)
    fixed = Finding.objects.filter(
        pk=OuterRef("finding_id"), fixed_published_at__isnull=False
    )
    on_time = fixed.filter(fixed_published_at__lte=OuterRef("due_at"))
    fixed_at = fixed.values("fixed_published_at")[:1]
    stop = {"stopped_at": fixed_at, "stop_reason": SlaClock.StopReason.FIXED}
    met = (
        SlaClock.objects.filter(state__in=SlaClock.RUNNING)
        .filter(Exists(on_time))
        .update(state=State.MET, **stop)
    )
    # What is still running and fixed was fixed after its deadline.
    missed = (
        SlaClock.objects.filter(state__in=SlaClock.RUNNING)
        .filter(Exists(fixed))
        .update(state=State.MISSED, **stop)
    )
    return met, missed


@transaction.atomic
def sla_transitions_run(*, now: datetime | None = None) -> dict[str, int]:
    """Move every clock to its state as of ``now`` in a few bulk UPDATEs.

    Order matters: a clock fixed on time is met even if this run comes after
    its deadline, so the fixes are applied before the breaches.
    """
    now = now or timezone.now()
    waivers_expired, resumed = _expire_waivers(now)
    met, missed = _stop_fixed()
    breached = SlaClock.objects.filter(
        state__in=[State.OPEN, State.AT_RISK], due_at__lte=now
    ).update(state=State.BREACHED)
    at_risk = SlaClock.objects.filter(state=State.OPEN, at_risk_at__lte=now).update(
        state=State.AT_RISK
    )
    return {
        "waivers_expired": waivers_expired,
        "resumed": resumed,
        "met": met,
        "missed": missed,
        "breached": breached,
        "at_risk": at_risk,
    }
