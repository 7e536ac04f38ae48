"""Notices of every kind: the endpoints an organization registers, the ledger
that makes each notice go out at most once, and the log of webhook deliveries.

The kinds (SLA thresholds, FIPS alerts) are registered by their apps, see
``kinds.py``; nothing here names them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.core.tenancy import OrgScopedQuerySet


class WebhookEndpoint(models.Model):
    """A URL of an organization that receives signed notices."""

    org = models.ForeignKey(
        "orgs.Organization", on_delete=models.PROTECT, related_name="webhook_endpoints"
    )
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    # "whsec_" + base64 of 32 random bytes. Stored as written: every delivery is
    # signed with it, so it cannot be hashed; it is shown once and never again.
    secret = models.CharField(max_length=100)
    events = models.JSONField(default=list)
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    secret_rotated_at = models.DateTimeField(null=True, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(enabled=True, disabled_at=None)
                | Q(enabled=False, disabled_at__isnull=False),
                name="webhook_endpoint_disabled_when_off",
                violation_error_message="A disabled endpoint records when.",
            ),
        ]

    def __str__(self) -> str:
        return self.url

    def subscribes(self, event: str) -> bool:
        return event in self.events


class Delivery(models.Model):
    """One signed webhook message and what came of sending it."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    org = models.ForeignKey(
        "orgs.Organization", on_delete=models.PROTECT, related_name="+"
    )
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.PROTECT, related_name="deliveries"
    )
    message_id = models.CharField(max_length=64, unique=True)
    event_type = models.CharField(max_length=40)
    payload = models.JSONField()
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    # One entry per attempt: when, status code or error, milliseconds.
    attempt_log = models.JSONField(default=list)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"
        indexes = [
            models.Index(fields=["org", "-created_at"], name="delivery_org_created"),
            models.Index(fields=["status", "next_attempt_at"], name="delivery_due"),
        ]

    def __str__(self) -> str:
        return f"{self.message_id} ({self.status})"


class Notification(models.Model):
    """The ledger: one notice of one subject to one organization on one channel.

    ``kind`` is a registered kind ("sla.breached", "fips.alert") and
    ``subject_id`` the id of what it tells of in that kind's own table (an SLA
    clock, a FIPS event). Its unique keys are what make a notice go out at most
    once, whatever runs at the same time: a run inserts its rows ignoring
    conflicts and sends only those that carry its ``run_id``.
    """

    class Channel(models.TextChoices):
        EMAIL = "email", "Email to the organization"
        STAFF_EMAIL = "staff_email", "Email to publisher staff"
        WEBHOOK = "webhook", "Webhook"

    org = models.ForeignKey(
        "orgs.Organization", on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(max_length=40)
    subject_id = models.PositiveBigIntegerField()
    channel = models.CharField(max_length=12, choices=Channel.choices)
    endpoint = models.ForeignKey(
        WebhookEndpoint,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="notifications",
    )
    delivery = models.ForeignKey(
        Delivery,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="notifications",
    )
    run_id = models.UUIDField(db_index=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # Two partial keys rather than one over a nullable column: NULLs
            # are distinct in a unique index, so (kind, subject, org, "email",
            # NULL) would not conflict with itself.
            models.UniqueConstraint(
                fields=["kind", "subject_id", "org", "channel"],
                condition=Q(endpoint__isnull=True),
                name="notice_once_per_channel",
                violation_error_message="This notice was already sent.",
            ),
            models.UniqueConstraint(
                fields=["kind", "subject_id", "org", "endpoint"],
                condition=Q(endpoint__isnull=False),
                name="notice_once_per_endpoint",
                violation_error_message="This notice was already sent here.",
            ),
            models.CheckConstraint(
                condition=Q(channel="webhook", endpoint__isnull=False)
                | (~Q(channel="webhook") & Q(endpoint__isnull=True)),
                name="notice_endpoint_iff_webhook",
                violation_error_message="A webhook notice names its endpoint.",
            ),
            models.CheckConstraint(
                condition=Q(kind__contains="."),
                name="notice_kind_named",
                violation_error_message="A notice names its kind as family.kind.",
            ),
            models.CheckConstraint(
                condition=Q(channel__in=["email", "staff_email", "webhook"]),
                name="notice_channel_known",
                violation_error_message="The channel is email, staff email or webhook.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of {self.subject_id} by {self.channel}"
