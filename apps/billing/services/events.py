"""Stripe webhook events: received (verified, stored once by id) in the
request, processed later by a task under the organization's billing lock.

Processing never trusts the order of events or the copy of an object they
carry: each handler re-reads the subscription or invoice from Stripe's API
and applies it as a desired state, so duplicates and reordering end in the
same rows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.core.boundedjson import JsonRefusedError, bounded_loads
from apps.core.inputs import ascii_int
from apps.entitlements.models import Entitlement
from apps.orgs.models import Organization

from ..models import BillingAccount, StripeEvent
from . import stripe_api
from .sync import (
    BillingConflictError,
    billing_lock,
    customer_link,
    invoice_store,
    invoice_subscription_id,
    subscription_sync,
    timestamp,
    unmapped_prices,
)

logger = logging.getLogger(__name__)

# After this many failed attempts an event waits for staff to retry it.
MAX_ATTEMPTS = 10


class WebhookRefusedError(Exception):
    """The request is not a genuine, well-formed Stripe event."""


def stripe_event_receive(
    *, payload: bytes, signature: str | None
) -> tuple[StripeEvent, bool]:
    """Verify and store one delivery. Returns the event and whether it is new.

    A repeated delivery of a stored event only counts the delivery.
    """
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        raise stripe_api.StripeNotConfiguredError("No webhook signing secret.")
    if not signature:
        raise WebhookRefusedError("Missing Stripe-Signature header.")
    try:
        # Verifies the HMAC over the raw bytes and the timestamp's age.
        stripe.WebhookSignature.verify_header(
            payload.decode("utf-8"),
            signature,
            secret,
            tolerance=settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS,
        )
        data = bounded_loads(payload, max_bytes=len(payload))
    except stripe.SignatureVerificationError as exc:
        raise WebhookRefusedError(f"Signature check failed: {exc}") from exc
    except JsonRefusedError as exc:
        raise WebhookRefusedError(f"The body is refused: {exc.message}") from exc
    except UnicodeDecodeError as exc:
        raise WebhookRefusedError("The body is not UTF-8 text.") from exc
    if not (
        isinstance(data, dict)
        and data.get("object") == "event"
        and isinstance(data.get("id"), str)
        and data["id"].startswith("evt_")
        and len(data["id"]) <= 80
        and isinstance(data.get("type"), str)
        and isinstance((data.get("data") or {}).get("object"), dict)
    ):
        raise WebhookRefusedError("Not a Stripe event.")
    try:
        with transaction.atomic():
            event = StripeEvent.objects.create(
                event_id=data["id"],
                type=data["type"][:100],
                livemode=bool(data.get("livemode")),
                api_version=str(data.get("api_version") or "")[:40],
                stripe_created=timestamp(data.get("created")) or timezone.now(),
                payload=data,
            )
        return event, True
    except IntegrityError:
        StripeEvent.objects.filter(event_id=data["id"]).update(
            deliveries=F("deliveries") + 1
        )
        return StripeEvent.objects.get(event_id=data["id"]), False


def _org_for(obj: dict[str, Any]) -> Organization | None:
    """Whose event is it: the linked customer, else the org id the portal put
    on the Checkout Session and the subscription it created."""
    customer = obj.get("customer")
    customer_id = customer.get("id") if isinstance(customer, dict) else customer
    if customer_id:
        account = (
            BillingAccount.objects.filter(stripe_customer_id=customer_id)
            .select_related("org")
            .first()
        )
        if account is not None:
            return account.org
    metadata = obj.get("metadata") or {}
    parent = (obj.get("parent") or {}).get("subscription_details") or {}
    for candidate in (
        obj.get("client_reference_id"),
        metadata.get("org_id"),
        (parent.get("metadata") or {}).get("org_id"),
    ):
        pk = ascii_int(candidate)
        if pk is not None:
            org = Organization.objects.filter(pk=pk).first()
            if org is not None:
                return org
    return None


def _customer_id(obj: dict[str, Any]) -> str:
    customer = obj.get("customer")
    return str((customer.get("id") if isinstance(customer, dict) else customer) or "")


def _sync_subscription(org, account, subscription_id: str, now) -> list[str]:
    fresh = stripe_api.subscription_retrieve(subscription_id)
    customer_link(account=account, customer_id=_customer_id(fresh))
    changes = subscription_sync(org=org, obj=fresh, now=now)
    unmapped = unmapped_prices(fresh)
    if unmapped:
        logger.warning("subscription %s has unmapped prices %s", fresh["id"], unmapped)
        changes.append(f"prices mapped to no plan: {', '.join(unmapped)}")
    return changes


def _on_checkout_completed(event, obj, org, account, now) -> list[str]:
    customer_link(account=account, customer_id=_customer_id(obj))
    subscription = obj.get("subscription")
    subscription_id = (
        subscription.get("id") if isinstance(subscription, dict) else subscription
    )
    if obj.get("mode") != "subscription" or not subscription_id:
        return ["not a subscription checkout: nothing to do"]
    return _sync_subscription(org, account, subscription_id, now)


def _on_subscription(event, obj, org, account, now) -> list[str]:
    customer_link(account=account, customer_id=_customer_id(obj))
    return _sync_subscription(org, account, obj["id"], now)


def _on_invoice(event, obj, org, account, now) -> list[str]:
    customer_link(account=account, customer_id=_customer_id(obj))
    fresh = stripe_api.invoice_retrieve(obj["id"])
    changes = [f"invoice {fresh['id']} {fresh.get('status')}"]
    invoice_store(org=org, obj=fresh, now=now)
    subscription_id = invoice_subscription_id(fresh)
    if subscription_id:
        changes += _sync_subscription(org, account, subscription_id, now)
    return changes


def _on_entitlement_summary(event, obj, org, account, now) -> list[str]:
    """Stripe's own view of the customer's features: sync every subscription
    of the customer, then say whether the two views agree."""
    customer_link(account=account, customer_id=_customer_id(obj))
    changes: list[str] = []
    for fresh in stripe_api.subscription_list(account.stripe_customer_id or ""):
        changes += subscription_sync(org=org, obj=fresh, now=now)
    stripe_keys = {
        row.get("lookup_key")
        for row in (obj.get("entitlements") or {}).get("data") or []
        if row.get("lookup_key")
    }
    ours = set(
        Entitlement.objects.for_org(org)
        .live(at=now)
        .filter(source=Entitlement.Source.SUBSCRIPTION)
        .values_list("feature__stripe_lookup_key", flat=True)
    )
    if stripe_keys != ours:
        logger.warning(
            "org %s: Stripe lists features %s, portal grants %s",
            org.pk,
            sorted(stripe_keys),
            sorted(ours),
        )
        changes.append(
            f"Stripe lists features {sorted(stripe_keys)}; "
            f"subscriptions grant {sorted(ours)}"
        )
    return changes


HANDLERS: dict[str, Callable[..., list[str]]] = {
    "checkout.session.completed": _on_checkout_completed,
    "checkout.session.async_payment_succeeded": _on_checkout_completed,
    "customer.subscription.created": _on_subscription,
    "customer.subscription.updated": _on_subscription,
    "customer.subscription.deleted": _on_subscription,
    "customer.subscription.paused": _on_subscription,
    "customer.subscription.resumed": _on_subscription,
    "customer.subscription.trial_will_end": _on_subscription,
    "invoice.paid": _on_invoice,
    "invoice.payment_failed": _on_invoice,
    "invoice.payment_succeeded": _on_invoice,
    "invoice.finalized": _on_invoice,
    "invoice.voided": _on_invoice,
    "invoice.marked_uncollectible": _on_invoice,
    "entitlements.active_entitlement_summary.updated": _on_entitlement_summary,
}


def stripe_event_process(*, event_pk: int, now: datetime | None = None) -> str:
    """Apply one stored event, once. Raises on failure (the event stays
    stored, unprocessed, with its error, and is retried)."""
    event = StripeEvent.objects.get(pk=event_pk)
    if event.processed_at is not None:
        return "already processed"
    handler = HANDLERS.get(event.type)
    obj = event.payload["data"]["object"]
    org = _org_for(obj) if handler else None
    try:
        with transaction.atomic():
            account = billing_lock(org=org) if org is not None else None
            # Re-read under the lock: a concurrent worker may have finished it.
            event = StripeEvent.objects.select_for_update().get(pk=event_pk)
            if event.processed_at is not None:
                return "already processed"
            now = now or timezone.now()
            if handler is None:
                outcome = "ignored: not a type the portal acts on"
            elif org is None:
                outcome = "ignored: no organization for this customer"
            else:
                try:
                    with transaction.atomic():
                        changes = handler(event, obj, org, account, now)
                except BillingConflictError as exc:
                    # Retrying cannot fix a contradiction; staff must look.
                    logger.error("stripe event %s: %s", event.event_id, exc)
                    changes = [f"conflict: {exc}"]
                outcome = "; ".join(changes) or "no change"
            event.org = org
            event.processed_at = timezone.now()
            event.attempts += 1
            event.last_error = ""
            event.outcome = outcome[:5000]
            event.save(
                update_fields=[
                    "org",
                    "processed_at",
                    "attempts",
                    "last_error",
                    "outcome",
                ]
            )
            return outcome
    except Exception as exc:
        StripeEvent.objects.filter(pk=event_pk, processed_at__isnull=True).update(
            attempts=F("attempts") + 1,
            last_error=f"{type(exc).__name__}: {exc}"[:5000],
        )
        raise


def stripe_events_due(*, now: datetime | None = None, older_than=timedelta(minutes=5)):
    """Unprocessed events whose task is late or failed, oldest first."""
    now = now or timezone.now()
    return (
        StripeEvent.objects.filter(
            processed_at__isnull=True, received_at__lte=now - older_than
        )
        .filter(Q(attempts__lt=MAX_ATTEMPTS))
        .order_by("received_at")
    )
