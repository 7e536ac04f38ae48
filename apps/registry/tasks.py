"""Keeping the registry's records bounded: anonymous pulls of free images
write a pull log row and may write events too, at whatever rate the world
pulls, so those go after ``REGISTRY_ANONYMOUS_LOG_DAYS``; an organization's
rows are kept ``REGISTRY_LOG_DAYS`` (the reports' windows look back a year).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from .models import PullLogEntry, RegistryEvent

logger = logging.getLogger(__name__)
BATCH = 5_000


def _delete_in_batches(queryset) -> int:
    deleted = 0
    while True:
        ids = list(queryset.values_list("id", flat=True)[:BATCH])
        if not ids:
            return deleted
        deleted += queryset.model.objects.filter(id__in=ids).delete()[0]


def registry_records_prune(*, now: datetime | None = None) -> dict[str, int]:
    """Delete pull log rows and events past their retention; counts by kind."""
    now = now or timezone.now()
    anonymous = now - timedelta(days=settings.REGISTRY_ANONYMOUS_LOG_DAYS)
    kept = now - timedelta(days=settings.REGISTRY_LOG_DAYS)
    log = PullLogEntry.objects.filter(
        Q(created_at__lt=kept) | Q(org__isnull=True, created_at__lt=anonymous)
    )
    events = RegistryEvent.objects.filter(
        Q(occurred_at__lt=kept) | Q(org__isnull=True, occurred_at__lt=anonymous)
    )
    return {
        "pull_log": _delete_in_batches(log),
        "events": _delete_in_batches(events),
    }


@shared_task(name="registry.prune", time_limit=600, soft_time_limit=570)
def registry_prune() -> dict[str, int]:
    counts = registry_records_prune()
    if any(counts.values()):
        logger.info("registry records pruned: %s", counts)
    return counts
