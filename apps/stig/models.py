"""STIG scan results attached to image digests, rule by rule.

A scan is read from an OpenSCAP XCCDF 1.2 result, an ARF report, or a DISA STIG
Viewer checklist (.ckl / .cklb); the document itself is kept byte for byte as the
digest's ``stig-scan`` attestation, and these rows are what was read from it.
"""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.catalog.models import Attestation, ImageDigest


class StigScan(models.Model):
    """One scan of one digest against one STIG benchmark profile."""

    class Format(models.TextChoices):
        XCCDF = "xccdf", "XCCDF 1.2 results"
        ARF = "arf", "ARF report"
        CKL = "ckl", "STIG Viewer checklist (.ckl)"
        CKLB = "cklb", "STIG Viewer checklist (.cklb)"

    attestation = models.OneToOneField(
        Attestation, on_delete=models.PROTECT, related_name="stig_scan"
    )
    digest = models.ForeignKey(
        ImageDigest, on_delete=models.CASCADE, related_name="stig_scans"
    )
    source_format = models.CharField(max_length=8, choices=Format.choices)
    benchmark_id = models.CharField(max_length=255)
    benchmark_title = models.CharField(max_length=500, blank=True)
    benchmark_version = models.CharField(
        max_length=64,
        blank=True,
        help_text="The benchmark's version, e.g. 1.3 or V1R3.",
    )
    release_info = models.CharField(
        max_length=255,
        blank=True,
        help_text="e.g. Release: 3 Benchmark Date: 24 Jan 2024",
    )
    profile_id = models.CharField(max_length=255, blank=True)
    profile_title = models.CharField(max_length=500, blank=True)
    scanner = models.CharField(
        max_length=255,
        blank=True,
        help_text="Test system and version, e.g. OpenSCAP 1.3.5.",
    )
    target = models.CharField(
        max_length=255, blank=True, help_text="Scanned host name."
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    score = models.DecimalField(max_digits=9, decimal_places=2, null=True, blank=True)
    score_max = models.DecimalField(
        max_digits=9, decimal_places=2, null=True, blank=True
    )
    score_system = models.CharField(max_length=255, blank=True)
    counts = models.JSONField(
        default=dict,
        blank=True,
        help_text='Results per CAT: {"1": {"pass": 3, "fail": 1, ...}, '
        '"2": {...}, "3": {...}}.',
    )
    rule_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["digest", "-finished_at", "-pk"]
        indexes = [models.Index(fields=["digest", "benchmark_id"])]

    def __str__(self) -> str:
        return f"{self.benchmark_id} scan of {self.digest}"


class StigRuleResult(models.Model):
    """One rule's result in a scan, with what a reviewer needs to act on it."""

    class Result(models.TextChoices):
        PASS = "pass", "Pass"
        FAIL = "fail", "Fail"
        NOT_APPLICABLE = "notapplicable", "Not applicable"
        NOT_CHECKED = "notchecked", "Not checked"
        NOT_SELECTED = "notselected", "Not selected"
        ERROR = "error", "Error"
        UNKNOWN = "unknown", "Unknown"
        INFORMATIONAL = "informational", "Informational"
        FIXED = "fixed", "Fixed"

    class Severity(models.TextChoices):
        HIGH = "high", "High (CAT I)"
        MEDIUM = "medium", "Medium (CAT II)"
        LOW = "low", "Low (CAT III)"
        UNKNOWN = "unknown", "Unknown"

    scan = models.ForeignKey(StigScan, on_delete=models.CASCADE, related_name="results")
    rule_id = models.CharField(max_length=255, help_text="e.g. SV-230221r858734_rule")
    vuln_id = models.CharField(
        max_length=64, blank=True, help_text="Group id, e.g. V-230221"
    )
    stig_id = models.CharField(
        max_length=128, blank=True, help_text="The rule's version, e.g. RHEL-08-010000."
    )
    title = models.TextField(blank=True)
    severity = models.CharField(max_length=8, choices=Severity.choices)
    cat = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="DISA category: 1 (high), 2 (medium), 3 (low)."
    )
    result = models.CharField(max_length=16, choices=Result.choices)
    description = models.TextField(blank=True, help_text="The rule's discussion.")
    check_text = models.TextField(blank=True)
    fix_text = models.TextField(blank=True)
    finding_details = models.TextField(
        blank=True, help_text="What the scanner or reviewer reported for this rule."
    )
    comments = models.TextField(blank=True)
    ccis = models.JSONField(default=list, blank=True)
    weight = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)

    class Meta:
        ordering = ["scan", "cat", "vuln_id", "rule_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["scan", "rule_id"],
                name="stig_rule_once_per_scan",
                violation_error_message="A rule has one result per scan.",
            ),
            models.CheckConstraint(
                condition=Q(cat__isnull=True) | Q(cat__in=[1, 2, 3]),
                name="stig_rule_cat_known",
                violation_error_message="CAT is I, II or III.",
            ),
        ]
        indexes = [models.Index(fields=["scan", "result"])]

    def __str__(self) -> str:
        return f"{self.rule_id}: {self.result}"
