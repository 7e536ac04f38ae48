"""Which evidence the portal holds supports which control of which framework.

The map is data (``data/control_map.json``, loaded by a migration and by
``manage.py controls_load``); reports read it to say, for each control, the
evidence behind it.
"""

from django.db import models
from django.db.models import Q


class EvidenceKind(models.TextChoices):
    SLA_LEDGER = "sla_ledger", "SLA ledger (patch clocks, met and missed deadlines)"
    STIG_SCANS = "stig_scans", "STIG scans and checklists"
    FIPS_MODULES = "fips_modules", "FIPS crypto-module inventory"
    ELS_COVERAGE = "els_coverage", "Lifecycle and ELS coverage of mirrored series"
    SBOM = "sbom", "SBOMs (component inventory)"
    VEX = "vex", "VEX statements and waivers"
    PROVENANCE = "provenance", "Signed build provenance and attestations"


class Framework(models.TextChoices):
    NIST_800_53 = "nist-800-53r5", "NIST SP 800-53 Rev. 5"
    FEDRAMP = "fedramp", "FedRAMP"
    PCI_DSS = "pci-dss-4", "PCI DSS v4.0"
    CRA = "eu-cra", "EU Cyber Resilience Act"


class Control(models.Model):
    framework = models.CharField(max_length=16, choices=Framework.choices)
    control_id = models.CharField(max_length=64)
    title = models.CharField(max_length=200)
    requirement = models.TextField(help_text="What the control asks, in short.")
    reference_url = models.URLField(max_length=500, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "framework", "control_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["framework", "control_id"],
                name="control_once_per_framework",
                violation_error_message="This control is already in the map.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_framework_display()} {self.control_id}"


class ControlEvidence(models.Model):
    """One kind of evidence supporting one control, and how."""

    control = models.ForeignKey(
        Control, on_delete=models.CASCADE, related_name="evidence"
    )
    kind = models.CharField(max_length=16, choices=EvidenceKind.choices)
    rationale = models.TextField(help_text="How this evidence supports the control.")

    class Meta:
        ordering = ["control", "kind"]
        constraints = [
            models.UniqueConstraint(
                fields=["control", "kind"],
                name="control_evidence_once",
                violation_error_message="This evidence is already mapped here.",
            ),
            models.CheckConstraint(
                condition=Q(
                    kind__in=[
                        "sla_ledger",
                        "stig_scans",
                        "fips_modules",
                        "els_coverage",
                        "sbom",
                        "vex",
                        "provenance",
                    ]
                ),
                name="control_evidence_kind_known",
                violation_error_message="Unknown kind of evidence.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.control}: {self.kind}"
