"""SLA notices: a clock at risk, a clock breached, told once each to the
organization (and, for breaches, to the publisher's staff) by the one notice
run of ``apps.notifications``, with which these kinds register at app ready."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from apps.notifications.kinds import NoticeFamily, NoticeKind, notice_kind_register

from .models import SlaClock


def _at_risk(now: datetime) -> QuerySet[SlaClock]:
    return SlaClock.objects.filter(state=SlaClock.State.AT_RISK, at_risk_at__lte=now)


def _breached(now: datetime) -> QuerySet[SlaClock]:
    return SlaClock.objects.filter(state=SlaClock.State.BREACHED, due_at__lte=now)


def _load(ids: list[int]) -> dict[int, SlaClock]:
    return SlaClock.objects.select_related(
        "finding__vulnerability", "finding__digest__variant__series__repository"
    ).in_bulk(ids)


def _as_json(clock: SlaClock, kind: NoticeKind) -> dict[str, Any]:
    finding = clock.finding
    return {
        "clock": clock.pk,
        "event": kind.name,
        "state": clock.state,
        "severity": clock.severity,
        "vulnerability": finding.vulnerability.vuln_id,
        "repository": finding.digest.variant.series.repository.name,
        "digest": finding.digest.digest,
        "started_at": clock.started_at.isoformat(),
        "at_risk_at": clock.at_risk_at.isoformat(),
        "due_at": clock.due_at.isoformat(),
    }


SLA = NoticeFamily(
    name="sla",
    templates="sla/email/notices",
    staff_templates="sla/email/staff_notices",
    message_type="sla.notices",
    payload_key="clocks",
    load=_load,
    as_json=_as_json,
    order=lambda clock: (clock.due_at, clock.pk),
)
AT_RISK = NoticeKind(
    name="sla.at_risk",
    label="A clock is at risk",
    word="At risk",
    family=SLA,
    find=_at_risk,
)
BREACHED = NoticeKind(
    name="sla.breached",
    label="A clock breached its deadline",
    word="Breached",
    family=SLA,
    find=_breached,
    staff=True,
)


def register() -> None:
    """Called from ``SlaConfig.ready``."""
    notice_kind_register(AT_RISK)
    notice_kind_register(BREACHED)
