"""What is sold: features, plans, their prices and what each plan grants.

Tiers are rows (loaded by a data migration), never branches in code: a guard
asks ``has_feature`` about a feature key and never about a plan. The Stripe ids
are blank until the Stripe side maps them.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class FeatureKey(models.TextChoices):
    """The features guards ask about. A key here without a Feature row is a
    migration bug; tests/billing checks they match."""

    SLA = "sla", "CVE patch SLA"
    FIPS = "fips", "FIPS variants"
    STIG = "stig", "STIG variants"
    ELS = "els", "Extended lifecycle support"
    CUSTOMIZATIONS = "customizations", "Customizations"
    SSO = "sso", "Single sign-on and enforced MFA"
    AUDITOR_SEATS = "auditor_seats", "Auditor seats"


class Feature(models.Model):
    class Kind(models.TextChoices):
        BOOLEAN = "boolean", "On or off"
        COUNTED = "counted", "Counted"

    key = models.SlugField(max_length=50, unique=True, choices=FeatureKey.choices)
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # Stripe Entitlements feature lookup key; the webhook maps summaries by it.
    stripe_lookup_key = models.CharField(max_length=80, unique=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.name


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
