"""Sending a customer to Stripe: Checkout to subscribe, the Billing Portal to
change plan, update a card, see invoices or cancel. Nothing is granted here:
entitlements follow the webhooks."""

from __future__ import annotations

import stripe
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.orgs.permissions import Perm
from apps.orgs.selectors import org_access_get

from ..models import BillingAccount, Price, Subscription
from . import stripe_api
from .sync import ENTITLED, billing_lock

Action = AuditEvent.Action


class StripeUnavailableError(Exception):
    """Stripe answered with an error or could not be reached."""


def _require_billing(org, actor) -> None:
    access = org_access_get(user=actor, org=org)
    if access is None or not access.can(Perm.BILLING_MANAGE):
        raise PermissionDenied("Only owners, admins and billing members pay.")


def _customer(org, actor) -> str:
    """The org's Stripe customer, created once (an idempotency key makes a
    double click or a retry land on the same customer)."""
    with transaction.atomic():
        account = billing_lock(org=org)
        if account.stripe_customer_id:
            return account.stripe_customer_id
        customer = stripe_api.stripe_client().v1.customers.create(
            params={
                "name": org.name,
                "email": actor.email,
                "metadata": {"org_id": str(org.pk), "org_slug": org.slug},
            },
            options={"idempotency_key": f"portal-org-{org.pk}-customer"},
        )
        account.stripe_customer_id = customer.id
        account.save(update_fields=["stripe_customer_id"])
        audit_record(
            action=Action.BILLING_CUSTOMER_LINKED,
            actor=actor,
            org=org,
            target=account,
            details={"customer": customer.id},
        )
        return customer.id


def billing_checkout_start(
    *,
    org,
    price: Price,
    actor,
    success_url: str,
    cancel_url: str,
    request: HttpRequest | None = None,
) -> str:
    """Open a Checkout Session for one price; returns the URL to send the
    customer to."""
    _require_billing(org, actor)
    if not stripe_api.stripe_configured():
        raise stripe_api.StripeNotConfiguredError("Stripe is not configured.")
    if not price.active or not price.stripe_price_id:
        raise ValidationError({"price": "This price cannot be bought online."})
    live_plans = {
        key
        for sub in Subscription.objects.for_org(org).filter(status__in=ENTITLED)
        for key in sub.plan_keys
    }
    if price.plan.key in live_plans:
        raise ValidationError({"price": f"You already subscribe to {price.plan.name}."})
    if not price.plan.is_addon and any(
        not plan.is_addon
        for plan in type(price.plan).objects.filter(key__in=live_plans)
    ):
        raise ValidationError(
            {"price": "You already have a plan: change it in the billing portal."}
        )
    try:
        customer_id = _customer(org, actor)
        session = stripe_api.stripe_client().v1.checkout.sessions.create(
            params={
                "mode": "subscription",
                "customer": customer_id,
                "client_reference_id": str(org.pk),
                "line_items": [{"price": price.stripe_price_id, "quantity": 1}],
                "success_url": success_url,
                "cancel_url": cancel_url,
                "metadata": {"org_id": str(org.pk)},
                "subscription_data": {"metadata": {"org_id": str(org.pk)}},
            }
        )
    except stripe.StripeError as exc:
        raise StripeUnavailableError(str(exc.user_message or exc)) from exc
    audit_record(
        action=Action.BILLING_CHECKOUT_STARTED,
        actor=actor,
        org=org,
        target=price,
        request=request,
        details={
            "plan": price.plan.key,
            "interval": price.interval,
            "price": price.stripe_price_id,
            "session": session.id,
        },
    )
    return str(session.url)


def billing_portal_open(
    *, org, actor, return_url: str, request: HttpRequest | None = None
) -> str:
    """A Billing Portal session for the org's customer; returns its URL."""
    _require_billing(org, actor)
    if not stripe_api.stripe_configured():
        raise stripe_api.StripeNotConfiguredError("Stripe is not configured.")
    account = BillingAccount.objects.filter(org=org).first()
    if account is None or not account.stripe_customer_id:
        raise ValidationError("There is no subscription to manage yet.")
    try:
        session = stripe_api.stripe_client().v1.billing_portal.sessions.create(
            params={"customer": account.stripe_customer_id, "return_url": return_url}
        )
    except stripe.StripeError as exc:
        raise StripeUnavailableError(str(exc.user_message or exc)) from exc
    audit_record(
        action=Action.BILLING_PORTAL_OPENED,
        actor=actor,
        org=org,
        target=account,
        request=request,
        details={"session": session.id, "at": timezone.now().isoformat()},
    )
    return str(session.url)
