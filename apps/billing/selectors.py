"""Reads about plans, prices and an organization's billing."""

from django.db.models import Prefetch

from .models import (
    BillingAccount,
    Invoice,
    Plan,
    PlanFeature,
    Price,
    StripeEvent,
    Subscription,
)


def plan_list_public():
    """Plans with their active prices and grants, in display order."""
    return Plan.objects.prefetch_related(
        Prefetch("prices", queryset=Price.objects.filter(active=True)),
        Prefetch("grants", queryset=PlanFeature.objects.select_related("feature")),
    )


def plan_list():
    return Plan.objects.all()


def billing_account_get(*, org):
    return BillingAccount.objects.for_org(org).first()


def subscription_list(*, org):
    return Subscription.objects.for_org(org).order_by("-stripe_created", "-id")


def invoice_list(*, org, limit: int = 24):
    return Invoice.objects.for_org(org).order_by("-stripe_created", "-id")[:limit]


def price_list_for_sale():
    """Prices a customer can buy online: active and mapped to Stripe."""
    return (
        Price.objects.filter(active=True)
        .exclude(stripe_price_id="")
        .select_related("plan")
        .order_by("plan__is_addon", "plan__position", "interval")
    )


def stripe_event_list(*, state: str = ""):
    events = StripeEvent.objects.select_related("org").order_by("-received_at", "-id")
    if state == "processed":
        events = events.filter(processed_at__isnull=False)
    elif state == "pending":
        events = events.filter(processed_at__isnull=True)
    elif state == "failing":
        events = events.filter(processed_at__isnull=True).exclude(last_error="")
    return events


def plans_granting() -> dict[str, list[Plan]]:
    """Feature key -> the plans and add-ons that grant it, in display order
    (one query): what to offer for a feature someone lacks."""
    granting: dict[str, list[Plan]] = {}
    grants = PlanFeature.objects.select_related("plan", "feature").order_by(
        "plan__is_addon", "plan__position", "plan__key"
    )
    for grant in grants:
        granting.setdefault(grant.feature.key, []).append(grant.plan)
    return granting
