"""Who may use what, and since when: the evidence behind every guard.

A Feature is what can be granted (tiers are rows: a guard asks ``has_feature``
about a feature key, never about a plan); plans in billing sell features.

An Entitlement row is never deleted or rewritten except to set its end: it is
what proves "entitled to FIPS for nginx from .. to ..". A Mirror is a
repository an organization pulls into its namespace; losing the entitlement
behind one of its flags keeps the mirror and marks it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from apps.core.tenancy import OrgScopedQuerySet


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


class EntitlementQuerySet(OrgScopedQuerySet):
    def live(self, *, at) -> EntitlementQuerySet:
        return self.filter(starts_at__lte=at).filter(
            Q(ends_at__isnull=True) | Q(ends_at__gt=at)
        )


class Entitlement(models.Model):
    class Source(models.TextChoices):
        SUBSCRIPTION = "subscription", "Subscription"
        CONTRACT = "contract", "Contract"
        TRIAL = "trial", "Trial"

    org = models.ForeignKey(
        "orgs.Organization", on_delete=models.PROTECT, related_name="entitlements"
    )
    feature = models.ForeignKey(
        Feature, on_delete=models.PROTECT, related_name="entitlements"
    )
    # Null: every repository of the catalog (and the org-wide features).
    repository = models.ForeignKey(
        "catalog.Repository",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="entitlements",
    )
    # Counted features only; null is unlimited.
    quantity = models.PositiveIntegerField(null=True, blank=True)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices)
    # Contract number, trial note, or (later) the Stripe subscription item id.
    reference = models.CharField(max_length=200)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    end_reason = models.CharField(max_length=200, blank=True)

    objects = EntitlementQuerySet.as_manager()

    class Meta:
        ordering = ["-starts_at", "-id"]
        indexes = [models.Index(fields=["org", "feature"], name="entitlement_org")]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__isnull=True) | Q(ends_at__gt=F("starts_at")),
                name="entitlement_ends_after_start",
                violation_error_message="An entitlement must end after it starts.",
            ),
        ]

    def __str__(self) -> str:
        scope = self.repository.name if self.repository else "all repositories"
        return f"{self.feature} for {self.org} ({scope})"

    def status(self, at=None) -> str:
        at = at or timezone.now()
        if self.starts_at > at:
            return "scheduled"
        if self.ends_at is not None and self.ends_at <= at:
            return "ended"
        return "active"


class Mirror(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        ENTITLEMENT_LOST = "entitlement_lost", "Entitlement lost"

    org = models.ForeignKey(
        "orgs.Organization", on_delete=models.CASCADE, related_name="mirrors"
    )
    repository = models.ForeignKey(
        "catalog.Repository", on_delete=models.PROTECT, related_name="mirrors"
    )
    include_fips = models.BooleanField(default=False)
    include_stig = models.BooleanField(default=False)
    # Series past their support end, served under extended lifecycle support.
    include_els = models.BooleanField(default=False)
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.ACTIVE
    )
    lost_at = models.DateTimeField(null=True, blank=True)
    lost_reason = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        ordering = ["repository__name"]
        constraints = [
            models.UniqueConstraint(
                fields=["org", "repository"],
                name="mirror_once_per_org_and_repository",
                violation_error_message="This repository is already mirrored.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.repository} mirrored by {self.org}"

    @property
    def flags(self) -> list[str]:
        return [
            label
            for on, label in (
                (self.include_fips, "FIPS"),
                (self.include_stig, "STIG"),
                (self.include_els, "ELS"),
            )
            if on
        ]
