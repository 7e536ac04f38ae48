from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import QuerySet

from .models import AuditEvent


@dataclass(frozen=True)
class AuditFilter:
    action: str = ""
    actor: str = ""
    date_from: date | None = None
    date_to: date | None = None
    org_slug: str = ""


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def audit_event_list(
    *, org=None, filters: AuditFilter = AuditFilter()
) -> QuerySet[AuditEvent]:
    """Events newest first; one organization's, or everyone's when ``org`` is None."""
    events = (
        AuditEvent.objects.all() if org is None else AuditEvent.objects.for_org(org)
    )
    if org is None:
        events = events.select_related("org")
        if filters.org_slug:
            events = events.filter(org__slug=filters.org_slug)
    if filters.action:
        events = events.filter(action=filters.action)
    if filters.actor:
        events = events.filter(actor_email__icontains=filters.actor)
    if filters.date_from:
        events = events.filter(created_at__gte=_day_start(filters.date_from))
    if filters.date_to:
        events = events.filter(
            created_at__lt=_day_start(filters.date_to + timedelta(days=1))
        )
    return events.order_by("-id")


def audit_event_page(
    *, events: QuerySet[AuditEvent], before: int | None, size: int = 50
) -> tuple[list[AuditEvent], int | None]:
    """One page by keyset (id below ``before``), and the cursor of the next page."""
    if before:
        events = events.filter(id__lt=before)
    rows = list(events[: size + 1])
    next_before = rows[size - 1].id if len(rows) > size else None
    return rows[:size], next_before
