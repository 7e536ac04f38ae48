"""What is sold: plans, their prices and what each plan grants (features are
the entitlements app's).

Tiers are rows (loaded by a data migration), never branches in code: a guard
asks ``has_feature`` about a feature key and never about a plan. The Stripe ids
are blank until the Stripe side maps them.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.core.tenancy import OrgScopedQuerySet
from apps.entitlements.models import Feature


class Plan(models.Model):
    key = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    # An add-on is bought on top of a plan (ELS), not instead of one.
    is_addon = models.BooleanField(default=False)
    position = models.PositiveSmallIntegerField(default=0)
    stripe_product_id = models.CharField(max_length=80, blank=True)
    features = models.ManyToManyField(
        Feature, through="PlanFeature", related_name="plans"
    )

    class Meta:
        ordering = ["is_addon", "position", "key"]

    def __str__(self) -> str:
        return self.name

    def grant_pairs(self) -> list[tuple[str, int | None]]:
        """What the plan grants: (feature key, quantity) pairs."""
        return [
            (grant.feature.key, grant.quantity)
            for grant in self.grants.select_related("feature")
        ]


class Price(models.Model):
    class Interval(models.TextChoices):
        MONTH = "month", "Monthly"
        YEAR = "year", "Yearly"

    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="prices")
    interval = models.CharField(max_length=5, choices=Interval.choices)
    # Integer minor units (cents): money is never a float.
    amount = models.PositiveIntegerField()
    currency = models.CharField(max_length=3, default="usd")
    stripe_price_id = models.CharField(max_length=80, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["plan", "interval"]
        constraints = [
            models.UniqueConstraint(
                fields=["plan", "interval", "currency"],
                condition=Q(active=True),
                name="price_one_active_per_plan_interval_currency",
            ),
            models.UniqueConstraint(
                fields=["stripe_price_id"],
                condition=~Q(stripe_price_id=""),
                name="price_stripe_id_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.plan} {self.get_interval_display()}"

    @property
    def major_amount(self) -> str:
        whole, cents = divmod(self.amount, 100)
        return f"{whole:,}" if cents == 0 else f"{whole:,}.{cents:02d}"


class PlanFeature(models.Model):
    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="grants")
    feature = models.ForeignKey(Feature, on_delete=models.PROTECT, related_name="+")
    # For counted features: null is unlimited. Ignored for boolean features.
    quantity = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["plan", "feature"]
        constraints = [
            models.UniqueConstraint(
                fields=["plan", "feature"], name="planfeature_once_per_plan"
            )
        ]

    def __str__(self) -> str:
        return f"{self.plan}: {self.feature}"


class BillingAccount(models.Model):
    """An organization's Stripe customer. Its row is also the per-organization
    lock every billing write takes (SELECT ... FOR UPDATE)."""

    org = models.OneToOneField(
        "orgs.Organization", on_delete=models.PROTECT, related_name="billing_account"
    )
    stripe_customer_id = models.CharField(
        max_length=80, unique=True, null=True, blank=True
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = OrgScopedQuerySet.as_manager()

    def __str__(self) -> str:
        return f"Billing account of {self.org}"


class Subscription(models.Model):
    """A Stripe subscription as last read from Stripe's API (never from an
    event's copy, which may be stale), with what the portal did about it."""

    class Status(models.TextChoices):
        INCOMPLETE = "incomplete", "Incomplete"
        INCOMPLETE_EXPIRED = "incomplete_expired", "Incomplete, expired"
        TRIALING = "trialing", "Trialing"
        ACTIVE = "active", "Active"
        PAST_DUE = "past_due", "Past due"
        CANCELED = "canceled", "Canceled"
        UNPAID = "unpaid", "Unpaid"
        PAUSED = "paused", "Paused"

    org = models.ForeignKey(
        "orgs.Organization", on_delete=models.PROTECT, related_name="subscriptions"
    )
    stripe_subscription_id = models.CharField(max_length=80, unique=True)
    stripe_customer_id = models.CharField(max_length=80)
    status = models.CharField(max_length=20, choices=Status.choices)
    # [{"id": item id, "price": price id, "plan": plan key or None, "quantity": n}]
    items = models.JSONField(default=list)
    current_period_start = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    cancel_at = models.DateTimeField(null=True, blank=True)
    canceled_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    # First seen past_due; entitlements stay until this plus the grace period.
    past_due_since = models.DateTimeField(null=True, blank=True)
    # Set when the grace period ran out and the entitlements were ended.
    suspended_at = models.DateTimeField(null=True, blank=True)
    stripe_created = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField(default=timezone.now)

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-stripe_created", "-id"]
        indexes = [
            models.Index(
                fields=["past_due_since"],
                condition=Q(past_due_since__isnull=False, suspended_at__isnull=True),
                name="subscription_in_grace",
            )
        ]

    def __str__(self) -> str:
        return f"{self.stripe_subscription_id} ({self.status})"

    @property
    def plan_keys(self) -> list[str]:
        return [item["plan"] for item in self.items if item.get("plan")]


class Invoice(models.Model):
    """A Stripe invoice as last read from Stripe's API, for the billing page."""

    org = models.ForeignKey(
        "orgs.Organization", on_delete=models.PROTECT, related_name="invoices"
    )
    stripe_invoice_id = models.CharField(max_length=80, unique=True)
    stripe_subscription_id = models.CharField(max_length=80, blank=True)
    number = models.CharField(max_length=80, blank=True)
    status = models.CharField(max_length=20)
    currency = models.CharField(max_length=3)
    # Integer minor units, as Stripe sends them.
    amount_due = models.PositiveIntegerField(default=0)
    amount_paid = models.PositiveIntegerField(default=0)
    amount_remaining = models.PositiveIntegerField(default=0)
    attempt_count = models.PositiveIntegerField(default=0)
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    stripe_created = models.DateTimeField()
    hosted_invoice_url = models.URLField(max_length=500, blank=True)
    invoice_pdf = models.URLField(max_length=500, blank=True)
    synced_at = models.DateTimeField(default=timezone.now)

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-stripe_created", "-id"]
        indexes = [models.Index(fields=["org", "-stripe_created"], name="invoice_org")]

    def __str__(self) -> str:
        return self.number or self.stripe_invoice_id

    @property
    def major_amount_due(self) -> str:
        whole, cents = divmod(self.amount_due, 100)
        return f"{whole:,}.{cents:02d}"


class StripeEvent(models.Model):
    """A webhook delivery, stored once by Stripe's event id before any work."""

    event_id = models.CharField(max_length=80, unique=True)
    type = models.CharField(max_length=100, db_index=True)
    livemode = models.BooleanField(default=False)
    api_version = models.CharField(max_length=40, blank=True)
    stripe_created = models.DateTimeField()
    payload = models.JSONField()
    org = models.ForeignKey(
        "orgs.Organization",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    received_at = models.DateTimeField(default=timezone.now)
    deliveries = models.PositiveIntegerField(default=1)
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    outcome = models.TextField(blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(
                fields=["received_at"],
                condition=Q(processed_at__isnull=True),
                name="stripeevent_pending",
            )
        ]

    def __str__(self) -> str:
        return f"{self.event_id} {self.type}"

    @property
    def state(self) -> str:
        if self.processed_at:
            return "processed"
        return "failing" if self.last_error else "pending"
