"""Billing tasks: ids in, one service call each."""

from __future__ import annotations

import logging

from celery import shared_task

from apps.entitlements.selectors import entitlement_cache

from .services import events, reconcile

logger = logging.getLogger(__name__)


@shared_task(
    name="billing.process_event",
    acks_late=True,
    autoretry_for=(Exception,),
    retry_backoff=5,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=events.MAX_ATTEMPTS,
    time_limit=120,
    soft_time_limit=110,
)
def process_event(event_pk: int) -> str:
    """Idempotent by the event's processed_at, checked under the org lock."""
    with entitlement_cache():
        return events.stripe_event_process(event_pk=event_pk)


def enqueue_event(event_pk: int) -> None:
    """Queue processing. A broker failure (or, with eager tasks, a processing
    failure) leaves the stored event to the retry sweep."""
    try:
        process_event.delay(event_pk)
    except Exception:
        logger.exception(
            "stripe event %s not processed now; the sweep retries it", event_pk
        )


@shared_task(name="billing.events_retry", time_limit=300, soft_time_limit=290)
def events_retry() -> int:
    """Re-queue events whose task was lost or keeps failing (up to the cap)."""
    pks = list(events.stripe_events_due().values_list("pk", flat=True)[:500])
    for pk in pks:
        enqueue_event(pk)
    return len(pks)


@shared_task(name="billing.reconcile_all", time_limit=3600, soft_time_limit=3500)
def reconcile_all() -> dict[str, int]:
    with entitlement_cache():
        return reconcile.billing_reconcile_all()


@shared_task(name="billing.grace_sweep", time_limit=600, soft_time_limit=590)
def grace_sweep() -> int:
    with entitlement_cache():
        return reconcile.billing_grace_sweep()
