"""The one place the portal talks to Stripe's API."""

from __future__ import annotations

from typing import Any

import stripe
from django.conf import settings

from apps.core import outbound

# A page of 100 subscriptions or 24 invoices is well under this.
MAX_RESPONSE_BYTES = 16 * 1024 * 1024


class StripeNotConfiguredError(Exception):
    """No STRIPE_SECRET_KEY: billing pages say so, nothing calls out."""


_clients: dict[tuple[str, str, int], stripe.StripeClient] = {}


def stripe_configured() -> bool:
    return bool(settings.STRIPE_SECRET_KEY)


def stripe_client() -> stripe.StripeClient:
    key, base = settings.STRIPE_SECRET_KEY, settings.STRIPE_API_BASE
    retries = settings.STRIPE_MAX_NETWORK_RETRIES
    if not key:
        raise StripeNotConfiguredError("Stripe is not configured.")
    client = _clients.get((key, base, retries))
    if client is None:
        client = _clients[(key, base, retries)] = stripe.StripeClient(
            key,
            base_addresses={"api": base},
            # Pinned to the version the event handling is written against.
            stripe_version=stripe.api_version,
            max_network_retries=retries,
            # Through the outbound policy, as every request the portal makes.
            http_client=stripe.RequestsClient(
                session=outbound.requests_session(max_bytes=MAX_RESPONSE_BYTES)
            ),
        )
    return client


def as_dict(obj: Any) -> dict[str, Any]:
    """A Stripe object (or an event's plain dict) as a plain dict."""
    if isinstance(obj, dict) and not isinstance(obj, stripe.StripeObject):
        return obj
    return obj.to_dict()


def subscription_retrieve(subscription_id: str) -> dict[str, Any]:
    return as_dict(stripe_client().v1.subscriptions.retrieve(subscription_id))


def subscription_list(customer_id: str) -> list[dict[str, Any]]:
    page = stripe_client().v1.subscriptions.list(
        params={"customer": customer_id, "status": "all", "limit": 100}
    )
    return [as_dict(sub) for sub in page.auto_paging_iter()]


def invoice_retrieve(invoice_id: str) -> dict[str, Any]:
    return as_dict(stripe_client().v1.invoices.retrieve(invoice_id))


def invoice_list(customer_id: str, limit: int = 24) -> list[dict[str, Any]]:
    page = stripe_client().v1.invoices.list(
        params={"customer": customer_id, "limit": limit}
    )
    return [as_dict(invoice) for invoice in page.data]
