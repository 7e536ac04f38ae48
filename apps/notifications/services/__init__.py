"""Writes of the notifications app: webhook endpoints (``endpoints``), the one
notice run for every kind (``run``, with what it sends in ``messages``) and
webhook deliveries (``delivery``)."""

from .delivery import (
    MAX_ATTEMPTS,
    backoff,
    webhook_deliveries_due,
    webhook_delivery_attempt,
)
from .endpoints import (
    webhook_endpoint_create,
    webhook_endpoint_disable,
    webhook_endpoint_rotate_secret,
    webhook_secret_new,
    webhook_sign,
)
from .run import RunResult, notices_run

__all__ = [
    "MAX_ATTEMPTS",
    "RunResult",
    "backoff",
    "notices_run",
    "webhook_deliveries_due",
    "webhook_delivery_attempt",
    "webhook_endpoint_create",
    "webhook_endpoint_disable",
    "webhook_endpoint_rotate_secret",
    "webhook_secret_new",
    "webhook_sign",
]
