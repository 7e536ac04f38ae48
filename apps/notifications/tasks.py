"""Notification tasks: ids in, one service call each."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from .models import Delivery
from .services import (
    notices_run,
    webhook_deliveries_due,
    webhook_delivery_attempt,
)


@shared_task(name="notifications.run", time_limit=300, soft_time_limit=270)
def run() -> dict:
    """The one notice run, for every kind (SLA thresholds, FIPS alerts). Safe
    to overlap and to repeat: the ledger's unique keys let each notice out
    once, and the retries of deliveries whose task was lost are picked up
    here."""
    result = notices_run()
    for delivery_id in webhook_deliveries_due():
        webhook_deliver.delay(delivery_id)
    return result.as_dict()


@shared_task(name="notifications.webhook_deliver", time_limit=90, soft_time_limit=60)
def webhook_deliver(delivery_id: int) -> str:
    """One attempt; a failure schedules the next one after its backoff. Each
    attempt claims the delivery first, so a duplicate task sends nothing."""
    delivery, attempted = webhook_delivery_attempt(delivery_id=delivery_id)
    # Only the task that made the attempt schedules the next; run inline
    # (development), the countdown would be ignored, so the periodic run
    # picks the retry up instead.
    due = delivery.next_attempt_at
    pending = delivery.status == Delivery.Status.PENDING
    if (
        attempted
        and pending
        and due is not None
        and not webhook_deliver.request.is_eager
    ):
        wait = (due - timezone.now()).total_seconds()
        webhook_deliver.apply_async((delivery_id,), countdown=max(wait, 0))
    return delivery.status
