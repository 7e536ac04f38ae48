"""Reports auditors can trust: each is requested once (``request_id``), built by
a task on the ``reports`` queue, stored as a file with its SHA-256, signed with a
recorded key, and every download is logged."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from apps.core.tenancy import OrgScopedQuerySet


class Report(models.Model):
    class Kind(models.TextChoices):
        ORG_COMPLIANCE = "org_compliance", "Compliance report"
        IMAGE_DOSSIER = "image_dossier", "Image dossier"
        SLA_PERFORMANCE = "sla_performance", "SLA performance across customers"
        # The spreadsheet FedRAMP retires for machine-readable deliverables:
        # kept for those who still read it; the OSCAL POA&M replaces it.
        POAM = "poam", "FedRAMP POA&M (XLSX, legacy)"
        EVIDENCE_BUNDLE = "evidence_bundle", "Evidence bundle (zip)"
        OSCAL_POAM = "oscal_poam", "OSCAL POA&M (JSON)"
        OSCAL_RESULTS = "oscal_results", "OSCAL Assessment Results (JSON)"
        OSCAL_COMPONENTS = "oscal_components", "OSCAL Component Definition (JSON)"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RENDERING = "rendering", "Rendering"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    # The id printed in the report and used in its verification URL.
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Idempotency: within an organization the same request id is the same
    # report, however often sent; each organization has its own ids, and the
    # staff reports across customers (no org) share the publisher's.
    request_id = models.CharField(max_length=64)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # None only for staff reports across customers.
    org = models.ForeignKey(
        "orgs.Organization",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reports",
    )
    digest = models.ForeignKey(
        "catalog.ImageDigest",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    window_start = models.DateField(null=True, blank=True)
    window_end = models.DateField(null=True, blank=True)
    # Data after this instant is not in the report: fixed when it is requested.
    data_cutoff = models.DateTimeField()
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    progress = models.PositiveSmallIntegerField(default=0)
    stage = models.CharField(max_length=200, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    # The consistency checks a built report failed (each {"check", "message"}):
    # such a report is never signed nor offered, and is not retried.
    check_failures = models.JSONField(default=list, blank=True)
    # A worker holds the report while it builds it; a lease that runs out
    # (the worker died) lets another take it over.
    lease_until = models.DateTimeField(null=True, blank=True)
    file = models.FileField(upload_to="reports/%Y/%m/", blank=True)
    media_type = models.CharField(max_length=100, blank=True)
    size = models.PositiveBigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    # The canonical evidence JSON the report was made from, and its hash.
    evidence_file = models.FileField(upload_to="reports/%Y/%m/", blank=True)
    evidence_sha256 = models.CharField(max_length=64, blank=True)
    signer_key_id = models.CharField(max_length=128, blank=True)
    pages = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["org", "-created_at"], name="report_org_created"),
            models.Index(fields=["status", "lease_until"], name="report_status_lease"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(window_start__isnull=True)
                | Q(window_end__isnull=True)
                | Q(window_end__gte=F("window_start")),
                name="report_window_ordered",
                violation_error_message="The window ends on or after its start.",
            ),
            models.CheckConstraint(
                condition=~Q(status="ready") | ~Q(sha256=""),
                name="report_ready_has_hash",
                violation_error_message="A ready report records its hash.",
            ),
            models.CheckConstraint(
                condition=Q(progress__lte=100),
                name="report_progress_percent",
                violation_error_message="Progress is a percentage.",
            ),
            models.UniqueConstraint(
                fields=["org", "request_id"],
                name="report_org_request_id_unique",
                violation_error_message=(
                    "This organization already used this request id."
                ),
            ),
            # NULLs are distinct in a unique index: the reports without an
            # organization get their own.
            models.UniqueConstraint(
                fields=["request_id"],
                condition=Q(org__isnull=True),
                name="report_staff_request_id_unique",
                violation_error_message="Staff already used this request id.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.public_id}"

    @property
    def failed_checks(self) -> list[str]:
        """The names of the consistency checks it failed, in order."""
        return sorted({f["check"] for f in self.check_failures})


class ReportDownload(models.Model):
    """Who downloaded which report, when, from where, and how."""

    report = models.ForeignKey(
        Report, on_delete=models.PROTECT, related_name="downloads"
    )
    org = models.ForeignKey(
        "orgs.Organization",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    token = models.ForeignKey(
        "accounts.ApiToken",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    # member, auditor, staff or token; and which file (report, evidence, bundle).
    via = models.CharField(max_length=16)
    part = models.CharField(max_length=16, default="report")
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    at = models.DateTimeField(default=timezone.now)

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.report} downloaded {self.at:%Y-%m-%d %H:%M}"


class SigningKey(models.Model):
    """A key the portal signed reports with: its certificate is kept so reports
    signed before a rotation still verify."""

    key_id = models.CharField(max_length=128, unique=True)
    certificate_pem = models.TextField()
    subject = models.CharField(max_length=500)
    not_before = models.DateTimeField()
    not_after = models.DateTimeField()
    source = models.CharField(
        max_length=16, help_text="generated (development) or configured (files)."
    )
    created_at = models.DateTimeField(default=timezone.now)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.key_id
