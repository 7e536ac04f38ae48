"""Reports a lost task or a dead worker left behind: found by the beat's
sweep, re-queued or, past their last attempt, failed with the reason."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record

from ..models import Report
from .pipeline import MAX_ATTEMPTS

Status = Report.Status

STALE_QUEUED = timedelta(minutes=3)


def reports_stale(*, now=None) -> list[int]:
    """Reports a lost task or a dead worker left behind: queued for minutes with
    no live lease, or rendering with a lease that ran out."""
    now = now or timezone.now()
    return list(
        Report.objects.filter(
            Q(
                status=Status.QUEUED,
                created_at__lt=now - STALE_QUEUED,
            )
            & (Q(lease_until__isnull=True) | Q(lease_until__lt=now))
            | Q(status=Status.RENDERING, lease_until__lt=now)
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:500]
    )


def report_expire_exhausted(*, report_id: int) -> None:
    """A rendering report whose last attempt died: failed, with the reason."""
    with transaction.atomic():
        updated = Report.objects.filter(
            pk=report_id,
            status=Status.RENDERING,
            attempts__gte=MAX_ATTEMPTS,
            lease_until__lt=timezone.now(),
        ).update(
            status=Status.FAILED,
            lease_until=None,
            stage="Failed",
            error="The worker stopped during the last attempt.",
        )
        if updated:
            report = Report.objects.select_related("org").get(pk=report_id)
            audit_record(
                action=AuditEvent.Action.REPORT_FAILED,
                org=report.org,
                target=report,
                details={"kind": report.kind, "attempts": report.attempts},
            )
