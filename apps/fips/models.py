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


class DigestCryptoModule(models.Model):
    """A FIPS build carries a validated module: read from the build's FIPS
    attestation, which is kept as the evidence."""

    digest = models.ForeignKey(
        "catalog.ImageDigest", on_delete=models.CASCADE, related_name="crypto_modules"
    )
    module = models.ForeignKey(
        CryptoModule, on_delete=models.PROTECT, related_name="digests"
    )
    attestation = models.ForeignKey(
        "catalog.Attestation", on_delete=models.PROTECT, related_name="+"
    )
    package = models.CharField(
        max_length=500, blank=True, help_text="Package URL of what ships the module."
    )
    declared_version = models.CharField(
        max_length=100, blank=True, help_text="The module version the build states."
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["digest", "module__certificate_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["digest", "module"],
                name="fips_digest_module_once",
                violation_error_message="This build already lists this module.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.digest} carries {self.module}"


class FipsEvent(models.Model):
    """Something a customer running a module must be told, recorded once.

    ``key`` names the event so that finding it again (the sweep, a second
    import of the same attestation) never makes a second row. Who was told of
    it is in the notice ledger (``notifications.Notification``, kind
    ``fips.alert``, subject the event's id).
    """

    class Kind(models.TextChoices):
        HISTORICAL = "historical", "Certificate moved to the historical list"
        REVOKED = "revoked", "Certificate revoked"
        SUNSET = "sunset", "Certificate sunset date near or reached"
        MODULE_CHANGED = "module_changed", "A new build changed its module"

    key = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    module = models.ForeignKey(
        CryptoModule, on_delete=models.PROTECT, related_name="events"
    )
    # Module swaps: the series, the new build, and the module it replaced.
    series = models.ForeignKey(
        "catalog.Series",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    digest = models.ForeignKey(
        "catalog.ImageDigest",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    previous_module = models.ForeignKey(
        CryptoModule,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    days_before_sunset = models.PositiveSmallIntegerField(null=True, blank=True)
    sunset_date = models.DateField(null=True, blank=True)
    summary = models.CharField(max_length=500)
    occurred_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-occurred_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind="sunset")
                | Q(days_before_sunset__isnull=False, sunset_date__isnull=False),
                name="fips_event_sunset_has_threshold",
                violation_error_message="A sunset notice names its threshold and date.",
            ),
            models.CheckConstraint(
                condition=~Q(kind="module_changed")
                | Q(series__isnull=False, digest__isnull=False),
                name="fips_event_change_names_build",
                violation_error_message="A module change names the series and build.",
            ),
        ]

    def __str__(self) -> str:
        return self.summary
