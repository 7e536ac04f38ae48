"""FIPS 140 cryptographic modules and the history of what changed about them."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class CryptoModule(models.Model):
    """A CMVP-validated cryptographic module, keyed by its certificate number."""

    class Standard(models.TextChoices):
        FIPS_140_2 = "140-2", "FIPS 140-2"
        FIPS_140_3 = "140-3", "FIPS 140-3"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        HISTORICAL = "historical", "Historical"
        REVOKED = "revoked", "Revoked"

    class Source(models.TextChoices):
        IMPORTED = "imported", "Imported from a CMVP record"
        STAFF = "staff", "Entered by staff"

    name = models.CharField(max_length=255)
    vendor = models.CharField(max_length=255)
    module_version = models.CharField(max_length=100, blank=True)
    certificate_number = models.PositiveIntegerField(unique=True)
    standard = models.CharField(max_length=8, choices=Standard.choices)
    status = models.CharField(max_length=16, choices=Status.choices)
    validation_date = models.DateField(help_text="Date of the initial validation.")
    sunset_date = models.DateField(null=True, blank=True)
    security_policy_url = models.URLField(max_length=500, blank=True)
    operational_environment = models.TextField(
        blank=True, help_text="Tested operational environments, one a line."
    )
    source = models.CharField(max_length=16, choices=Source.choices)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["certificate_number"]
        constraints = [
            models.CheckConstraint(
                condition=Q(certificate_number__gte=1),
                name="fips_module_certificate_positive",
                violation_error_message="A CMVP certificate number is 1 or more.",
            ),
            models.CheckConstraint(
                condition=Q(sunset_date__isnull=True)
                | Q(sunset_date__gt=F("validation_date")),
                name="fips_module_sunset_after_validation",
                violation_error_message="The sunset date is after the validation date.",
            ),
            models.CheckConstraint(
                condition=Q(standard__in=["140-2", "140-3"]),
                name="fips_module_standard_known",
                violation_error_message="The standard is FIPS 140-2 or FIPS 140-3.",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["active", "historical", "revoked"]),
                name="fips_module_status_known",
                violation_error_message="The status is active, historical or revoked.",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.certificate_number} {self.name}"


class CryptoModuleChange(models.Model):
    """One field of a module changed: what it was, what it became, and when."""

    class Source(models.TextChoices):
        IMPORT = "import", "CMVP import"
        STAFF = "staff", "Staff edit"

    module = models.ForeignKey(
        CryptoModule, on_delete=models.PROTECT, related_name="changes"
    )
    field = models.CharField(max_length=64)
    old_value = models.TextField(blank=True)
    new_value = models.TextField(blank=True)
    changed_at = models.DateTimeField(db_index=True)
    source = models.CharField(max_length=16, choices=Source.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    class Meta:
        ordering = ["changed_at", "pk"]
        indexes = [models.Index(fields=["module", "field", "changed_at"])]
        constraints = [
            models.CheckConstraint(
                condition=~Q(field=""),
                name="fips_module_change_field_named",
                violation_error_message="A change names the field that changed.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.module}: {self.field} {self.old_value!r} -> {self.new_value!r}"
