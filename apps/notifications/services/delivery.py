"""Webhook deliveries: one signed attempt at a time, retried with backoff,
never redirected, claimed first so two workers send a message once."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from apps.core import outbound

from ..models import Delivery, WebhookEndpoint
from .endpoints import _body, webhook_sign

MAX_ATTEMPTS = 5
# Seconds before attempt n + 1 is 30 * 5 ** (n - 1): 30 s, 2.5 min, 12.5 min,
# about an hour; the fifth failure is final.
BACKOFF_BASE_SECONDS = 30
BACKOFF_FACTOR = 5
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0
# An attempt claims its delivery for this long, longer than the task may run,
# so a second worker does not send it at the same time.
ATTEMPT_LEASE = timedelta(minutes=2)


def backoff(attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failed attempt."""
    return timedelta(seconds=BACKOFF_BASE_SECONDS * BACKOFF_FACTOR ** (attempts - 1))


def _post(endpoint: WebhookEndpoint, delivery: Delivery) -> tuple[int | None, str]:
    """Send once: the status code (None when no answer) and the error, if any."""
    body = _body(delivery.payload)
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"{settings.SITE_NAME} webhooks",
        "webhook-id": delivery.message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": webhook_sign(
            secret=endpoint.secret,
            message_id=delivery.message_id,
            timestamp=timestamp,
            body=body,
        ),
    }
    try:
        # Checked again now, against the address the request is pinned to.
        response = outbound.post(
            endpoint.url,
            body=body,
            headers=headers,
            timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
        )
    except outbound.RefusedDestination as exc:
        return None, f"Not sent: {exc}"
    except outbound.OutboundTimeout:
        return None, f"No answer within {READ_TIMEOUT:g} s."
    except outbound.OutboundError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500]
    code = response.status
    if response.ok:
        return code, ""
    if response.is_redirect:
        location = response.location[:300] or "(no location)"
        return code, f"Redirect to {location} not followed."
    return code, f"HTTP {code}."


def webhook_delivery_attempt(
    *, delivery_id: int, now: datetime | None = None
) -> tuple[Delivery, bool]:
    """Make one attempt at a pending delivery that is due, and record it;
    return the delivery and whether this call attempted it.

    The attempt first claims the row with a conditional UPDATE, so two workers
    handed the same delivery send it once.
    """
    now = now or timezone.now()
    claimed = (
        Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.PENDING)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .update(next_attempt_at=now + ATTEMPT_LEASE)
    )
    delivery = Delivery.objects.select_related("endpoint").get(pk=delivery_id)
    if not claimed:
        return delivery, False
    endpoint = delivery.endpoint
    started = time.monotonic()
    if endpoint.enabled:
        code, error = _post(endpoint, delivery)
    else:
        code, error = None, "Endpoint disabled before delivery."
    elapsed_ms = int((time.monotonic() - started) * 1000)
    delivery.attempts += 1
    delivery.response_code = code
    delivery.last_error = error
    if not error:
        delivery.status = Delivery.Status.DELIVERED
        delivery.delivered_at = now
        delivery.next_attempt_at = None
    elif delivery.attempts >= MAX_ATTEMPTS or not endpoint.enabled:
        delivery.status = Delivery.Status.FAILED
        delivery.next_attempt_at = None
    else:
        delivery.next_attempt_at = now + backoff(delivery.attempts)
    delivery.attempt_log = [
        *delivery.attempt_log,
        {
            "at": now.isoformat(),
            "code": code,
            "error": error,
            "ms": elapsed_ms,
            "next": delivery.next_attempt_at.isoformat()
            if delivery.next_attempt_at
            else None,
        },
    ]
    delivery.save(
        update_fields=[
            "attempts",
            "response_code",
            "last_error",
            "status",
            "delivered_at",
            "next_attempt_at",
            "attempt_log",
        ]
    )
    return delivery, True


def webhook_deliveries_due(*, now: datetime | None = None) -> list[int]:
    """Pending deliveries whose next attempt is due: retries, and any whose
    task was lost."""
    now = now or timezone.now()
    return list(
        Delivery.objects.filter(
            status=Delivery.Status.PENDING, next_attempt_at__lte=now
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:1000]
    )
