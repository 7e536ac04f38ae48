"""Nightly: compare each customer's subscriptions and invoices with Stripe
and repair any drift (a lost webhook, a failed task), logging each repair.
Hourly: end the entitlements of subscriptions whose grace period ran out."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import stripe
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record

from ..models import BillingAccount, Subscription
from . import stripe_api
from .sync import billing_lock, invoice_store, subscription_sync

logger = logging.getLogger(__name__)
Action = AuditEvent.Action


@transaction.atomic
def billing_reconcile_org(*, org, now: datetime | None = None) -> list[str]:
    """Re-read every subscription and recent invoice of the org's customer
    from Stripe and apply them. Returns the repairs (empty: no drift)."""
    now = now or timezone.now()
    account = billing_lock(org=org)
    if not account.stripe_customer_id:
        return []
    changes: list[str] = []
    seen = set()
    for fresh in stripe_api.subscription_list(account.stripe_customer_id):
        seen.add(fresh["id"])
        changes += subscription_sync(org=org, obj=fresh, now=now)
    # Ours but not in the customer's list (moved or deleted at Stripe): read
    # each by id so its true state applies.
    for subscription in Subscription.objects.for_org(org).exclude(
        stripe_subscription_id__in=seen
    ):
        fresh = stripe_api.subscription_retrieve(subscription.stripe_subscription_id)
        changes += subscription_sync(org=org, obj=fresh, now=now)
    for invoice in stripe_api.invoice_list(account.stripe_customer_id):
        if invoice_store(org=org, obj=invoice, now=now):
            changes.append(f"invoice {invoice['id']} {invoice.get('status')}")
    if changes:
        audit_record(
            action=Action.BILLING_DRIFT_REPAIRED,
            actor=None,
            org=org,
            target=account,
            details={"repairs": changes},
        )
        logger.warning("billing drift repaired for org %s: %s", org.pk, changes)
    return changes


def billing_reconcile_all(*, now: datetime | None = None) -> dict[str, int]:
    """Every org with a Stripe customer; one failing org does not stop the rest."""
    counts = {"orgs": 0, "repaired": 0, "failed": 0}
    accounts = BillingAccount.objects.exclude(stripe_customer_id=None).select_related(
        "org"
    )
    for account in accounts.iterator():
        counts["orgs"] += 1
        try:
            if billing_reconcile_org(org=account.org, now=now):
                counts["repaired"] += 1
        except (stripe.StripeError, stripe_api.StripeNotConfiguredError):
            counts["failed"] += 1
            logger.exception("billing reconciliation failed for org %s", account.org_id)
    return counts


def billing_grace_sweep(*, now: datetime | None = None) -> int:
    """Suspend subscriptions still past_due when their grace period ends.

    Reads the subscription from Stripe first (it may have been paid since);
    if Stripe cannot be reached the stored state decides, so an outage never
    extends a grace period.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.BILLING_GRACE_DAYS)
    due = Subscription.objects.filter(
        status=Subscription.Status.PAST_DUE,
        past_due_since__lte=cutoff,
        suspended_at__isnull=True,
    ).select_related("org")
    swept = 0
    for subscription in due:
        try:
            fresh = stripe_api.subscription_retrieve(
                subscription.stripe_subscription_id
            )
        except (stripe.StripeError, stripe_api.StripeNotConfiguredError):
            logger.warning(
                "grace sweep: Stripe unreachable for %s; using the stored state",
                subscription.stripe_subscription_id,
            )
            fresh = stored_as_stripe(subscription)
        with transaction.atomic():
            billing_lock(org=subscription.org)
            subscription_sync(org=subscription.org, obj=fresh, now=now)
        swept += 1
    return swept


def stored_as_stripe(subscription: Subscription) -> dict:
    """The stored subscription in the shape Stripe sends, for re-evaluation."""

    def ts(value):
        return int(value.timestamp()) if value else None

    return {
        "id": subscription.stripe_subscription_id,
        "object": "subscription",
        "customer": subscription.stripe_customer_id,
        "status": subscription.status,
        "cancel_at_period_end": subscription.cancel_at_period_end,
        "cancel_at": ts(subscription.cancel_at),
        "canceled_at": ts(subscription.canceled_at),
        "ended_at": ts(subscription.ended_at),
        "created": ts(subscription.stripe_created),
        "items": {
            "object": "list",
            "data": [
                {
                    "id": item["id"],
                    "price": {"id": item["price"]},
                    "quantity": item.get("quantity", 1),
                    "current_period_start": item.get("current_period_start"),
                    "current_period_end": item.get("current_period_end"),
                }
                for item in subscription.items
            ],
        },
    }
