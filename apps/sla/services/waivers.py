"""Waivers: requested by one staff member, approved or rejected by another."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record

from ..models import (
    SlaClock,
    SlaWaiver,
)
from .policies import _require_staff

Action = AuditEvent.Action
State = SlaClock.State


@transaction.atomic
def sla_waiver_request(
    *,
    clock: SlaClock,
    actor: Any,
    reason: str,
    expires_at: datetime,
    now: datetime | None = None,
) -> SlaWaiver:
    """Staff ask to stop a running clock until ``expires_at``; another staff
    member decides."""
    now = now or timezone.now()
    _require_staff(actor, "request waivers")
    reason = (reason or "").strip()
    errors = {}
    if not reason:
        errors["reason"] = "Say why the clock should stop."
    if expires_at is None or timezone.is_naive(expires_at):
        errors["expires_at"] = "Give an expiry with a time zone."
    elif expires_at <= now:
        errors["expires_at"] = "The expiry must be in the future."
    clock = SlaClock.objects.select_for_update().get(pk=clock.pk)
    if clock.state not in SlaClock.RUNNING:
        errors["clock"] = "Only a running clock can be waived."
    elif clock.waivers.filter(
        state__in=[SlaWaiver.State.REQUESTED, SlaWaiver.State.APPROVED]
    ).exists():
        errors["clock"] = "This clock already has a waiver pending."
    if errors:
        raise ValidationError(errors)
    waiver = SlaWaiver.objects.create(
        clock=clock,
        requested_by=actor,
        reason=reason,
        expires_at=expires_at,
        created_at=now,
    )
    audit_record(
        action=Action.SLA_WAIVER_REQUESTED,
        actor=actor,
        org=clock.org,
        target=waiver,
        details={
            "clock": clock.pk,
            "reason": reason,
            "expires_at": expires_at.isoformat(),
        },
    )
    return waiver


def _pending(waiver: SlaWaiver) -> SlaWaiver:
    waiver = (
        SlaWaiver.objects.select_for_update().select_related("clock").get(pk=waiver.pk)
    )
    if waiver.state != SlaWaiver.State.REQUESTED:
        raise ValidationError({"waiver": f"This waiver is already {waiver.state}."})
    return waiver


@transaction.atomic
def sla_waiver_approve(
    *, waiver: SlaWaiver, actor: Any, now: datetime | None = None
) -> SlaWaiver:
    """A second staff member approves: the clock stops as exempt until the
    waiver expires."""
    now = now or timezone.now()
    _require_staff(actor, "approve waivers")
    waiver = _pending(waiver)
    if waiver.requested_by_id == actor.pk:
        raise ValidationError(
            {"actor": "A waiver is approved by someone other than who requested it."}
        )
    if waiver.expires_at <= now:
        raise ValidationError({"waiver": "This waiver has expired; request a new one."})
    clock = SlaClock.objects.select_for_update().get(pk=waiver.clock_id)
    if clock.state not in SlaClock.RUNNING:
        raise ValidationError({"clock": f"The clock is already {clock.state}."})
    waiver.state = SlaWaiver.State.APPROVED
    waiver.approved_by = actor
    waiver.approved_at = now
    waiver.save(update_fields=["state", "approved_by", "approved_at"])
    clock.state = State.EXEMPT
    clock.stopped_at = now
    clock.stop_reason = SlaClock.StopReason.WAIVER
    clock.exempt_reason = waiver.reason
    clock.waiver = waiver
    clock.save(
        update_fields=["state", "stopped_at", "stop_reason", "exempt_reason", "waiver"]
    )
    audit_record(
        action=Action.SLA_WAIVER_APPROVED,
        actor=actor,
        org=clock.org,
        target=waiver,
        details={"clock": clock.pk, "expires_at": waiver.expires_at.isoformat()},
    )
    return waiver


@transaction.atomic
def sla_waiver_reject(
    *, waiver: SlaWaiver, actor: Any, reason: str = "", now: datetime | None = None
) -> SlaWaiver:
    """Staff refuse (or the requester withdraws) a waiver; the clock runs on."""
    now = now or timezone.now()
    _require_staff(actor, "decide waivers")
    waiver = _pending(waiver)
    waiver.state = SlaWaiver.State.REJECTED
    waiver.rejected_by = actor
    waiver.rejected_at = now
    waiver.rejection_reason = (reason or "").strip()
    waiver.save(
        update_fields=["state", "rejected_by", "rejected_at", "rejection_reason"]
    )
    audit_record(
        action=Action.SLA_WAIVER_REJECTED,
        actor=actor,
        org=waiver.clock.org,
        target=waiver,
        details={"clock": waiver.clock_id, "reason": waiver.rejection_reason},
    )
    return waiver
