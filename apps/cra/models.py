"""Article 14 cases: one per actively exploited vulnerability affecting a
published image, with the reports sent to the single reporting platform."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from . import rules


class CraCase(models.Model):
    """An actively exploited vulnerability in the publisher's images.

    Opened from CISA's KEV catalog when a listed vulnerability has an affected
    finding on a catalog build (``aware_at``: when both were known here), or
    by staff with evidence of exploitation (``aware_at``: when they became
    aware, as they state it).
    """

    class Source(models.TextChoices):
        KEV = "kev", "CISA KEV"
        STAFF = "staff", "Staff, with evidence"

    vulnerability = models.OneToOneField(
        "vulns.Vulnerability", on_delete=models.PROTECT, related_name="cra_case"
    )
    source = models.CharField(max_length=10, choices=Source.choices)
    aware_at = models.DateTimeField()
    evidence = models.TextField(blank=True)
    # Staff-opened cases name the builds they know to be affected; KEV cases
    # read theirs from the findings.
    digests = models.ManyToManyField(
        "catalog.ImageDigest", blank=True, related_name="cra_cases"
    )
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    # A corrective or mitigating measure staff state is available (a fixed
    # build published is read from the findings): starts the final report's
    # 14 days.
    measure_at = models.DateTimeField(null=True, blank=True)
    measure = models.TextField(blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-aware_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(source="kev") | ~Q(evidence=""),
                name="cra_staff_case_has_evidence",
                violation_error_message="A case staff open states its evidence.",
            ),
        ]

    def __str__(self) -> str:
        return f"CRA case {self.vulnerability.vuln_id}"


class CraSubmission(models.Model):
    """One stage reported to the single reporting platform: when, by whom,
    under which reference."""

    STAGE_CHOICES = [(stage.key, stage.name) for stage in rules.STAGES]

    case = models.ForeignKey(
        CraCase, on_delete=models.CASCADE, related_name="submissions"
    )
    stage = models.CharField(max_length=20, choices=STAGE_CHOICES)
    submitted_at = models.DateTimeField()
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    reference = models.CharField(max_length=100, blank=True)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["case", "submitted_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["case", "stage"],
                name="cra_stage_once_per_case",
                violation_error_message="This stage was already recorded.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_stage_display()} for {self.case}"
