"""The catalog: repositories, version lines, variants, immutable builds, evidence."""

from __future__ import annotations

from datetime import date, timedelta

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from .formats.verdict import CHECK_LABELS, CHECK_REVOKED

NEARING_EOL_DAYS = 90


class Repository(models.Model):
    """An image repository of the catalog, e.g. ``python`` or ``nginx``."""

    class Category(models.TextChoices):
        BASE = "base", "Base OS"
        LANGUAGE = "language", "Language runtime"
        DATABASE = "database", "Database"
        WEB = "web", "Web server and proxy"
        MESSAGING = "messaging", "Messaging"
        TOOL = "tool", "Tool"
        APPLICATION = "application", "Application"

    name = models.SlugField(max_length=100, unique=True)
    display_name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    category = models.CharField(max_length=20, choices=Category.choices)
    tags = models.JSONField(default=list, blank=True)
    is_generated = models.BooleanField(
        default=False, help_text="Generated for scale in demo data, not a real image."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "repositories"

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("catalog:repository", kwargs={"name": self.name})


class Series(models.Model):
    """A version line of a repository (``3.12``) with its lifecycle dates."""

    class Status(models.TextChoices):
        SUPPORTED = "supported", "Supported"
        NEARING_EOL = "nearing_eol", "Nearing end of support"
        ELS_ONLY = "els_only", "Extended lifecycle support only"
        EOL = "eol", "End of life"

    repository = models.ForeignKey(
        Repository, on_delete=models.CASCADE, related_name="series"
    )
    name = models.CharField(max_length=50)
    upstream_ga = models.DateField(null=True, blank=True)
    upstream_eol = models.DateField(null=True, blank=True)
    support_end = models.DateField(
        null=True, blank=True, help_text="Last day the publisher patches this line."
    )
    els_end = models.DateField(
        null=True, blank=True, help_text="Last day of extended lifecycle support."
    )

    class Meta:
        ordering = ["repository__name", "-upstream_ga", "name"]
        verbose_name_plural = "series"
        constraints = [
            models.UniqueConstraint(
                fields=["repository", "name"],
                name="series_unique_per_repository",
                violation_error_message="This repository already has that series.",
            ),
            models.CheckConstraint(
                condition=Q(els_end__isnull=True)
                | Q(support_end__isnull=True)
                | Q(els_end__gte=models.F("support_end")),
                name="series_els_after_support",
                violation_error_message="ELS ends on or after publisher support ends.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.repository.name}:{self.name}"

    def status_on(self, day: date) -> str:
        """Lifecycle status on a given day."""
        if self.support_end is None or day <= self.support_end:
            if self.support_end and day > self.support_end - timedelta(
                days=NEARING_EOL_DAYS
            ):
                return self.Status.NEARING_EOL
            return self.Status.SUPPORTED
        if self.els_end is not None and day <= self.els_end:
            return self.Status.ELS_ONLY
        return self.Status.EOL

    @property
    def status(self) -> str:
        return self.status_on(timezone.now().date())


class Variant(models.Model):
    """A flavour of a series: runtime, dev or compat, optionally FIPS and/or STIG."""

    class Flavor(models.TextChoices):
        RUNTIME = "runtime", "Runtime"
        DEV = "dev", "Dev"
        COMPAT = "compat", "Compat"

    series = models.ForeignKey(
        Series, on_delete=models.CASCADE, related_name="variants"
    )
    flavor = models.CharField(max_length=10, choices=Flavor.choices)
    fips = models.BooleanField(default=False)
    stig = models.BooleanField(default=False)

    class Meta:
        ordering = ["series", "flavor", "fips", "stig"]
        constraints = [
            models.UniqueConstraint(
                fields=["series", "flavor", "fips", "stig"],
                name="variant_unique_per_series",
                violation_error_message="This series already has that variant.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.series}-{self.suffix}" if self.suffix else str(self.series)

    @property
    def suffix(self) -> str:
        return self.suffix_of(self.flavor, self.fips, self.stig)

    @classmethod
    def suffix_of(cls, flavor: str, fips: bool, stig: bool) -> str:
        """``dev-fips``: a variant's tag suffix from its fields (for rows
        read as values, without the model)."""
        parts = [] if flavor == cls.Flavor.RUNTIME else [flavor]
        parts += ["fips"] if fips else []
        parts += ["stig"] if stig else []
        return "-".join(parts)


class ImageDigest(models.Model):
    """One immutable build of a variant, named by its sha256 manifest digest."""

    variant = models.ForeignKey(
        Variant, on_delete=models.CASCADE, related_name="digests"
    )
    digest = models.CharField(max_length=71, unique=True)
    architectures = models.JSONField(default=list)
    built_at = models.DateTimeField(db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    # When matching last ran over this build against every advisory held
    # then: an assessment is only as new as this (null: never matched).
    matched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-built_at"]
        indexes = [
            models.Index(fields=["variant", "-built_at"], name="digest_variant_recent")
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(digest__regex=r"^sha256:[0-9a-f]{64}$"),
                name="digest_is_sha256",
                violation_error_message="A digest is sha256: and 64 lowercase hex.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.variant}@{self.digest[:19]}"

    def get_absolute_url(self) -> str:
        return reverse("catalog:digest", kwargs={"digest": self.digest})


class TagEvent(models.Model):
    """A tag pointing at a digest from ``assigned_at`` until ``removed_at``.

    Tags never silently disappear: a removal or move keeps the row, with when
    and why.
    """

    repository = models.ForeignKey(
        Repository, on_delete=models.CASCADE, related_name="tag_events"
    )
    tag = models.CharField(max_length=128)
    digest = models.ForeignKey(
        ImageDigest, on_delete=models.PROTECT, related_name="tag_events"
    )
    assigned_at = models.DateTimeField(default=timezone.now)
    removed_at = models.DateTimeField(null=True, blank=True)
    removal_reason = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["repository", "tag", "-assigned_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["repository", "tag"],
                condition=Q(removed_at__isnull=True),
                name="tag_one_current_digest",
                violation_error_message="A tag points at one digest at a time.",
            ),
            models.CheckConstraint(
                condition=Q(removed_at__isnull=True) | ~Q(removal_reason=""),
                name="tag_removal_has_reason",
                violation_error_message="A tag removal records its reason.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.repository.name}:{self.tag} -> {self.digest.digest[:19]}"


class TrustedSigner(models.Model):
    """A key or keyless identity the publisher trusts to sign its evidence,
    with the window it is trusted for. Never deleted: a rotated key keeps
    vouching for what it signed inside its window, a revoked one for nothing."""

    class Kind(models.TextChoices):
        PUBLIC_KEY = "public_key", "Public key"
        IDENTITY = "identity", "Keyless identity (Sigstore certificate)"

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    public_key_pem = models.TextField(blank=True)
    key_algorithm = models.CharField(max_length=20, blank=True)
    fingerprint = models.CharField(
        max_length=64,
        blank=True,
        help_text="SHA-256 of the key's DER SubjectPublicKeyInfo, hex.",
    )
    key_id = models.CharField(
        max_length=255,
        blank=True,
        help_text="The key id the publisher's signatures name, when it is not "
        "the key's fingerprint (npm's SHA256:..., a KMS key URI).",
    )
    issuer = models.CharField(
        max_length=500, blank=True, help_text="OIDC issuer of a keyless identity."
    )
    subject = models.CharField(
        max_length=500,
        blank=True,
        help_text="The certificate identity (email or workflow URI), exactly.",
    )
    subject_pattern = models.CharField(
        max_length=500,
        blank=True,
        help_text="Or a regular expression the whole identity must match.",
    )
    not_before = models.DateTimeField(default=timezone.now)
    not_after = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revocation_reason = models.TextField(blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    replaces = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="replaced_by",
        help_text="The key this one rotated out.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "-not_before", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(kind="public_key")
                    & ~Q(public_key_pem="")
                    & ~Q(fingerprint="")
                    & Q(issuer="", subject="", subject_pattern="")
                )
                | (
                    Q(kind="identity")
                    & Q(public_key_pem="", fingerprint="", key_id="")
                    & ~Q(issuer="")
                    & (
                        (~Q(subject="") & Q(subject_pattern=""))
                        | (Q(subject="") & ~Q(subject_pattern=""))
                    )
                ),
                name="signer_key_or_identity",
                violation_error_message=(
                    "A signer is a public key, or an identity with an issuer and "
                    "a subject or a subject pattern."
                ),
            ),
            models.CheckConstraint(
                condition=Q(not_after__isnull=True) | Q(not_after__gt=F("not_before")),
                name="signer_window_ends_after_it_starts",
                violation_error_message="A signer's window ends after it starts.",
            ),
            models.CheckConstraint(
                condition=Q(revoked_at__isnull=True, revocation_reason="")
                | (Q(revoked_at__isnull=False) & ~Q(revocation_reason="")),
                name="signer_revocation_has_reason",
                violation_error_message="A revocation records its reason.",
            ),
            models.UniqueConstraint(
                fields=["fingerprint"],
                condition=~Q(fingerprint=""),
                name="signer_key_registered_once",
                violation_error_message="This key is already registered.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


class Attestation(models.Model):
    """A piece of evidence attached to a digest, stored byte for byte."""

    class Kind(models.TextChoices):
        SBOM_CYCLONEDX = "sbom-cyclonedx", "SBOM (CycloneDX)"
        SBOM_SPDX = "sbom-spdx", "SBOM (SPDX)"
        SLSA_PROVENANCE = "slsa-provenance", "SLSA provenance"
        OPENVEX = "openvex", "OpenVEX"
        STIG_SCAN = "stig-scan", "STIG scan"
        FIPS = "fips", "FIPS"

    class SignatureStatus(models.TextChoices):
        VERIFIED = "verified", "Verified"
        UNVERIFIED = "unverified", "Unverified (no signature)"
        INVALID = "invalid", "Invalid"
        UNTRUSTED = "untrusted", "Untrusted (valid signature, signer not trusted)"

    class Subject(models.TextChoices):
        MATCH = "match", "This build"
        NOT_STATED = "not_stated", "Subject not stated"
        OVERRIDDEN = "overridden", "Another image, attached by staff override"
        UNCHECKED = "unchecked", "Not checked (attached before subjects were checked)"

    digest = models.ForeignKey(
        ImageDigest, on_delete=models.CASCADE, related_name="attestations"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    document = models.FileField(upload_to="evidence/%Y/%m/")
    media_type = models.CharField(max_length=100, default="application/json")
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField()
    spec_version = models.CharField(max_length=32, blank=True)
    signer_key_id = models.CharField(max_length=255, blank=True)
    signature_status = models.CharField(
        max_length=10,
        choices=SignatureStatus.choices,
        default=SignatureStatus.UNVERIFIED,
        help_text="What checking the document's signature concluded.",
    )
    signature_signer = models.ForeignKey(
        TrustedSigner,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="attestations",
        help_text="The registered signer whose key or identity made the signature.",
    )
    signature_identity = models.CharField(
        max_length=500,
        blank=True,
        help_text="The key (algorithm and fingerprint) or certificate identity "
        "that signed.",
    )
    signature_signed_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When it was signed, as a signed timestamp or the transparency "
        "log attests; empty when nothing does.",
    )
    signature_checked_at = models.DateTimeField(null=True, blank=True)
    signature_check = models.CharField(
        max_length=20,
        blank=True,
        help_text="Which check an Invalid or Untrusted verdict comes from "
        "(signature, subject, transparency_log, revoked, unknown_signer, ...).",
    )
    signature_message = models.TextField(blank=True)
    signature_file = models.FileField(
        upload_to="evidence/signatures/%Y/%m/",
        blank=True,
        help_text="The detached signature (a Sigstore bundle or DSSE envelope) it "
        "came with.",
    )
    summary = models.JSONField(
        default=dict,
        blank=True,
        help_text="What was read from the document (builder, materials, counts).",
    )
    subject_status = models.CharField(
        max_length=12,
        choices=Subject.choices,
        default=Subject.UNCHECKED,
        help_text="Whether the document's own subject is this build.",
    )
    subject_digests = models.JSONField(
        default=list,
        blank=True,
        help_text="The image digests the document names as its subject.",
    )
    subject_named = models.CharField(
        max_length=500, blank=True, help_text="What the document calls its subject."
    )
    subject_override_reason = models.TextField(
        blank=True,
        help_text="Why staff attached a document whose subject is another image.",
    )
    subject_override_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    subject_override_at = models.DateTimeField(null=True, blank=True)
    warnings = models.JSONField(
        default=list,
        blank=True,
        help_text="Where the document departs from its format's schema in fields "
        "the portal does not read: [{message, count, path}], grouped.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["digest", "kind", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["digest", "sha256"],
                name="attestation_once_per_digest",
                violation_error_message="This document is already attached.",
            ),
            models.CheckConstraint(
                condition=(
                    Q(subject_status="overridden")
                    & ~Q(subject_override_reason="")
                    & Q(subject_override_at__isnull=False)
                )
                | (~Q(subject_status="overridden") & Q(subject_override_reason="")),
                name="attestation_subject_override_has_reason",
                violation_error_message=(
                    "A subject override records its reason and time; only an "
                    "override has a reason."
                ),
            ),
            models.CheckConstraint(
                condition=~Q(signature_status="verified")
                | Q(signature_signer__isnull=False, signature_checked_at__isnull=False),
                name="attestation_verified_names_signer",
                violation_error_message=(
                    "A verified signature names its signer and when it was checked."
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.digest}"

    @property
    def signature_verified(self) -> bool:
        """Whether a registered signer's valid signature vouches for it."""
        return self.signature_status == self.SignatureStatus.VERIFIED

    @property
    def signature_no_longer_trusted(self) -> bool:
        """Validly signed by a signer revoked since."""
        return (
            self.signature_status == self.SignatureStatus.UNTRUSTED
            and self.signature_check == CHECK_REVOKED
        )

    @property
    def signature_check_label(self) -> str:
        """The check an Invalid or Untrusted verdict comes from, in words."""
        return CHECK_LABELS.get(self.signature_check, self.signature_check)
