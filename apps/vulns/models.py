"""Vulnerabilities, the components builds carry, findings and the publisher's VEX."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Severity(models.TextChoices):
    CRITICAL = "critical", "Critical"
    HIGH = "high", "High"
    MEDIUM = "medium", "Medium"
    LOW = "low", "Low"
    NONE = "none", "None"
    UNKNOWN = "unknown", "Unknown"


SEVERITY_ORDER = {
    Severity.CRITICAL: 0,
    Severity.HIGH: 1,
    Severity.MEDIUM: 2,
    Severity.LOW: 3,
    Severity.NONE: 4,
    Severity.UNKNOWN: 5,
}


class Component(models.Model):
    """A package at a version, named by its package URL."""

    purl = models.TextField()
    purl_sha256 = models.CharField(max_length=64, unique=True)
    type = models.CharField(max_length=32, db_index=True)
    namespace = models.CharField(max_length=255, blank=True)
    name = models.CharField(max_length=255)
    version = models.CharField(max_length=255, blank=True)
    # The package a vulnerability database names: the source package for
    # distro binaries (purl qualifier ``upstream``), else the name.
    source_name = models.CharField(max_length=255)
    # The source package's version where it differs from the binary's (a
    # binNMU's "+b1", a source epoch); "" when they are the same.
    source_version = models.CharField(max_length=255, blank=True)
    # False for a distro binary whose SBOM said nothing of its source package:
    # it is matched by its binary name only, so its coverage is partial.
    source_known = models.BooleanField(default=True)
    distro = models.CharField(max_length=64, blank=True)
    licenses = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["type", "namespace", "name", "version"]
        indexes = [
            models.Index(fields=["type", "source_name"], name="component_match_key"),
        ]

    def __str__(self) -> str:
        return self.purl


class DigestComponent(models.Model):
    """A component found in a digest's SBOM."""

    digest = models.ForeignKey(
        "catalog.ImageDigest", on_delete=models.CASCADE, related_name="contents"
    )
    component = models.ForeignKey(
        Component, on_delete=models.PROTECT, related_name="appearances"
    )
    attestation = models.ForeignKey(
        "catalog.Attestation", on_delete=models.CASCADE, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["digest", "component"], name="component_once_per_digest"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.component} in {self.digest_id}"


def preferred_vuln_id(vuln_id: str, aliases: list | None) -> str:
    """The id people name a vulnerability by: its CVE id (its own, or its
    first CVE alias); else its own id (GHSA, PYSEC, a distribution's)."""
    if vuln_id.upper().startswith("CVE-"):
        return vuln_id
    return next(
        (str(a) for a in aliases or () if str(a).upper().startswith("CVE-")),
        vuln_id,
    )


def other_vuln_ids(vuln_id: str, aliases: list | None) -> list[str]:
    """Every other id it is known by (its own first, then its aliases)."""
    shown = preferred_vuln_id(vuln_id, aliases)
    ids = [vuln_id, *(str(a) for a in aliases or ())]
    return [i for i in dict.fromkeys(ids) if i != shown]


class Vulnerability(models.Model):
    """An advisory (CVE, GHSA, distro or publisher id), its scores and KEV status."""

    vuln_id = models.CharField(max_length=100, unique=True)
    aliases = models.JSONField(default=list, blank=True)
    summary = models.TextField(blank=True)
    details = models.TextField(blank=True)
    disclosed_at = models.DateTimeField(null=True, blank=True)
    modified_at = models.DateTimeField(null=True, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    cvss_v4_vector = models.CharField(max_length=255, blank=True)
    cvss_v4_score = models.DecimalField(
        max_digits=3, decimal_places=1, null=True, blank=True
    )
    cvss_v3_vector = models.CharField(max_length=255, blank=True)
    cvss_v3_score = models.DecimalField(
        max_digits=3, decimal_places=1, null=True, blank=True
    )
    vendor_severity = models.CharField(
        max_length=20, choices=Severity.choices, blank=True
    )
    severity = models.CharField(
        max_length=10, choices=Severity.choices, default=Severity.UNKNOWN, db_index=True
    )
    kev = models.BooleanField(default=False, db_index=True)
    kev_date_added = models.DateField(null=True, blank=True)
    kev_due_date = models.DateField(null=True, blank=True)
    kev_ransomware = models.BooleanField(default=False)
    # When a KEV import first listed it here (null: not listed): the moment
    # the publisher could know it is actively exploited (apps.cra).
    kev_flagged_at = models.DateTimeField(null=True, blank=True)
    references = models.JSONField(default=list, blank=True)
    source_sha256 = models.CharField(
        max_length=64, blank=True, help_text="SHA-256 of the record last imported."
    )

    class Meta:
        ordering = ["-disclosed_at", "vuln_id"]
        verbose_name_plural = "vulnerabilities"

    def __str__(self) -> str:
        return self.vuln_id

    @property
    def cve_id(self) -> str:
        return preferred_vuln_id(self.vuln_id, self.aliases)

    @property
    def other_ids(self) -> list[str]:
        return other_vuln_ids(self.vuln_id, self.aliases)


class AffectedPackage(models.Model):
    """One ``affected`` entry of an advisory: a package and its vulnerable ranges."""

    vulnerability = models.ForeignKey(
        Vulnerability, on_delete=models.CASCADE, related_name="affected"
    )
    ecosystem = models.CharField(max_length=100)
    # purl type and package name, in the form components are matched on.
    purl_type = models.CharField(max_length=32)
    package_name = models.CharField(max_length=255)
    distro = models.CharField(max_length=64, blank=True)
    ranges = models.JSONField(default=list, blank=True)
    versions = models.JSONField(default=list, blank=True)
    # When the portal first saw a fixed version of this package in this
    # advisory (the upstream fix time), and in which revision: carried over
    # when a revision rewrites the row, so it stays the first sighting.
    fix_seen_at = models.DateTimeField(null=True, blank=True)
    fix_seen_in = models.ForeignKey(
        "AdvisoryRevision",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    class Meta:
        indexes = [
            models.Index(
                fields=["purl_type", "package_name"], name="affected_match_key"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.vulnerability_id}: {self.ecosystem}/{self.package_name}"


class Finding(models.Model):
    """A vulnerability in a component of a digest, with the timestamps SLAs need."""

    class Status(models.TextChoices):
        AFFECTED = "affected", "Affected"
        FIXED = "fixed", "Fixed"
        NOT_AFFECTED = "not_affected", "Not affected"
        UNDER_INVESTIGATION = "under_investigation", "Under investigation"
        # Out of force: its advisory was withdrawn, or a revision no longer
        # names the component. Kept as history; neither open nor fixed.
        WITHDRAWN = "withdrawn", "Withdrawn"

    # No index of its own: the unique constraint and finding_digest_view both
    # lead with digest, and every extra index costs each bulk insert.
    digest = models.ForeignKey(
        "catalog.ImageDigest",
        on_delete=models.CASCADE,
        related_name="findings",
        db_index=False,
    )
    vulnerability = models.ForeignKey(
        Vulnerability, on_delete=models.PROTECT, related_name="findings"
    )
    component = models.ForeignKey(
        Component, on_delete=models.PROTECT, related_name="findings"
    )
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.AFFECTED
    )
    severity = models.CharField(max_length=10, choices=Severity.choices)
    disclosed_at = models.DateTimeField(null=True, blank=True)
    upstream_fix_at = models.DateTimeField(null=True, blank=True)
    # The advisory revision upstream_fix_at was first seen in.
    upstream_fix_revision = models.ForeignKey(
        "AdvisoryRevision",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    fixed_version = models.CharField(max_length=255, blank=True)
    detected_at = models.DateTimeField(default=timezone.now)
    fixed_published_at = models.DateTimeField(null=True, blank=True)
    fixed_in = models.ForeignKey(
        "catalog.ImageDigest",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="fixes",
    )
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["digest", "severity", "vulnerability"]
        constraints = [
            models.UniqueConstraint(
                fields=["digest", "vulnerability", "component"],
                name="finding_once_per_digest_vuln_component",
            ),
            # A fixed finding withdrawn keeps its fix, so that it is fixed
            # again if its advisory is published again.
            models.CheckConstraint(
                condition=Q(fixed_published_at__isnull=True)
                | Q(status__in=["fixed", "withdrawn"]),
                name="finding_fixed_published_only_when_fixed",
                violation_error_message="Only a fixed finding has a fix time.",
            ),
            models.CheckConstraint(
                condition=Q(status="withdrawn", withdrawn_at__isnull=False)
                | (~Q(status="withdrawn") & Q(withdrawn_at__isnull=True)),
                name="finding_withdrawn_has_time",
                violation_error_message="A withdrawn finding, and only one, "
                "has a withdrawal time.",
            ),
        ]
        indexes = [
            models.Index(
                fields=["digest", "status", "severity"], name="finding_digest_view"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.vulnerability_id} in {self.component} ({self.digest_id})"


class VexDocumentQuerySet(models.QuerySet):
    def in_force(self) -> VexDocumentQuerySet:
        """Neither replaced by a newer version of itself nor withdrawn."""
        return self.filter(superseded_at__isnull=True, withdrawn_at__isnull=True)


class VexDocument(models.Model):
    """A VEX document as published or imported: OpenVEX or CycloneDX."""

    class Format(models.TextChoices):
        OPENVEX = "openvex", "OpenVEX"
        CYCLONEDX = "cyclonedx", "CycloneDX VEX"
        AUTHORED = "authored", "Authored in the portal"

    format = models.CharField(max_length=20, choices=Format.choices)
    spec_version = models.CharField(max_length=32, blank=True)
    document_id = models.CharField(max_length=500, blank=True)
    # Which document this is a version of (see vex.document_identity); blank
    # for a document that names no identity, which nothing can replace.
    identity = models.CharField(max_length=64, blank=True, db_index=True)
    author = models.CharField(max_length=255, blank=True)
    issued_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)
    sha256 = models.CharField(max_length=64, unique=True, null=True, blank=True)
    raw = models.JSONField(null=True, blank=True)
    imported_at = models.DateTimeField(default=timezone.now)
    statement_count = models.PositiveIntegerField(
        default=0,
        help_text="Statements as the document states them; one statement naming "
        "many products is stored as one row per product and component.",
    )
    superseded_by = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="supersedes",
    )
    superseded_at = models.DateTimeField(null=True, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    withdrawn_reason = models.TextField(blank=True)

    objects = VexDocumentQuerySet.as_manager()

    class Meta:
        ordering = ["-issued_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(withdrawn_at__isnull=True) | ~Q(withdrawn_reason=""),
                name="vex_withdrawn_says_why",
                violation_error_message="A withdrawn VEX document says why.",
            ),
            models.CheckConstraint(
                condition=Q(superseded_at__isnull=True)
                | Q(superseded_by__isnull=False),
                name="vex_superseded_names_successor",
                violation_error_message="A superseded VEX document names its "
                "successor.",
            ),
        ]

    def __str__(self) -> str:
        return self.document_id or f"VEX document {self.pk}"

    @property
    def in_force(self) -> bool:
        return self.superseded_at is None and self.withdrawn_at is None


class VexStatementQuerySet(models.QuerySet):
    def in_force(self) -> VexStatementQuerySet:
        """Statements of documents in force (see VexDocumentQuerySet.in_force)."""
        return self.filter(
            document__superseded_at__isnull=True, document__withdrawn_at__isnull=True
        )

    def in_force_at(self, moment) -> VexStatementQuerySet:
        """Statements whose document was in force at ``moment`` (a report's
        cut-off): not yet superseded nor withdrawn then."""
        return self.filter(
            Q(document__superseded_at__isnull=True)
            | Q(document__superseded_at__gt=moment),
            Q(document__withdrawn_at__isnull=True)
            | Q(document__withdrawn_at__gt=moment),
        )


class VexStatement(models.Model):
    """The publisher's word on one vulnerability in one product (and component)."""

    class Status(models.TextChoices):
        NOT_AFFECTED = "not_affected", "Not affected"
        AFFECTED = "affected", "Affected"
        FIXED = "fixed", "Fixed"
        UNDER_INVESTIGATION = "under_investigation", "Under investigation"

    class Justification(models.TextChoices):
        COMPONENT_NOT_PRESENT = "component_not_present", "Component not present"
        VULNERABLE_CODE_NOT_PRESENT = (
            "vulnerable_code_not_present",
            "Vulnerable code not present",
        )
        VULNERABLE_CODE_NOT_IN_EXECUTE_PATH = (
            "vulnerable_code_not_in_execute_path",
            "Vulnerable code not in execute path",
        )
        VULNERABLE_CODE_CANNOT_BE_CONTROLLED_BY_ADVERSARY = (
            "vulnerable_code_cannot_be_controlled_by_adversary",
            "Vulnerable code cannot be controlled by adversary",
        )
        INLINE_MITIGATIONS_ALREADY_EXIST = (
            "inline_mitigations_already_exist",
            "Inline mitigations already exist",
        )

    document = models.ForeignKey(
        VexDocument, on_delete=models.CASCADE, related_name="statements"
    )
    vulnerability = models.ForeignKey(
        Vulnerability, on_delete=models.PROTECT, related_name="vex_statements"
    )
    # The statement of the document this row comes from (0-based): a statement
    # naming many products and components is stored as many rows.
    statement_index = models.PositiveIntegerField(default=0)
    product = models.TextField(help_text="Product identifier: an image purl or digest.")
    subcomponent = models.TextField(blank=True, help_text="Component purl, if any.")
    # What the product names in the catalog (vex.product_target), kept so that a
    # repository or build registered later is linked to it.
    named_repository = models.CharField(max_length=255, blank=True, db_index=True)
    named_digest = models.CharField(max_length=71, blank=True, db_index=True)
    repository = models.ForeignKey(
        "catalog.Repository",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="vex_statements",
    )
    digest = models.ForeignKey(
        "catalog.ImageDigest",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="vex_statements",
    )
    status = models.CharField(max_length=20, choices=Status.choices)
    justification = models.CharField(
        max_length=60, choices=Justification.choices, blank=True
    )
    impact_statement = models.TextField(blank=True)
    action_statement = models.TextField(blank=True)
    status_notes = models.TextField(blank=True)
    author = models.CharField(max_length=255, blank=True)
    timestamp = models.DateTimeField()

    objects = VexStatementQuerySet.as_manager()

    class Meta:
        ordering = ["-timestamp", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="not_affected")
                | ~Q(justification="")
                | ~Q(impact_statement=""),
                name="vex_not_affected_is_justified",
                violation_error_message=(
                    "A not_affected statement needs a justification or an impact "
                    "statement."
                ),
            ),
        ]
        indexes = [
            models.Index(fields=["vulnerability", "-timestamp"], name="vex_by_vuln"),
        ]

    def __str__(self) -> str:
        return f"{self.vulnerability_id} {self.status} for {self.product}"


class AdvisoryImport(models.Model):
    """One import of an advisory feed, per OSV ecosystem: when, what, how many.

    Written by the import services, never edited: what a build was assessed
    against, and as of when, is read from these rows. An OSV import writes a
    row for every ecosystem its records name; a KEV import writes one row
    without an ecosystem.
    """

    class Feed(models.TextChoices):
        OSV = "osv", "OSV"
        KEV = "kev", "CISA KEV"

    feed = models.CharField(max_length=8, choices=Feed.choices)
    # As the records name it ("Ubuntu:22.04:LTS", "PyPI"); "" for KEV.
    ecosystem = models.CharField(max_length=100, blank=True)
    # The ecosystem as AffectedPackage rows store it, so coverage of a
    # component is decided the way matching decides it.
    purl_type = models.CharField(max_length=32, blank=True)
    distro = models.CharField(max_length=64, blank=True)
    source = models.CharField(
        max_length=255, blank=True, help_text="What was imported: a file's name."
    )
    version = models.CharField(
        max_length=64, blank=True, help_text="The feed's own version (KEV)."
    )
    records_imported = models.PositiveIntegerField(
        help_text="Records of this ecosystem in this import."
    )
    records_held = models.PositiveIntegerField(
        help_text="Records of this ecosystem stored once it was written."
    )
    imported_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-imported_at", "-id"]
        indexes = [
            models.Index(
                fields=["feed", "ecosystem", "imported_at"],
                name="advisory_import_latest",
            ),
        ]

    def __str__(self) -> str:
        what = f"{self.get_feed_display()} {self.ecosystem}".strip()
        return f"{what} imported {self.imported_at:%Y-%m-%d %H:%M}"


class AdvisoryRevision(models.Model):
    """One version of an advisory's record as a feed delivered it, kept whole.

    Written for a new record and for each record whose content changed; never
    edited. ``applied`` is False for a record older (by ``modified``) than the
    one in force when it arrived: kept as delivered, never applied.
    """

    vulnerability = models.ForeignKey(
        Vulnerability, on_delete=models.PROTECT, related_name="revisions"
    )
    modified_at = models.DateTimeField(null=True, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    sha256 = models.CharField(max_length=64)
    raw = models.JSONField()
    applied = models.BooleanField(default=True)
    # What the revision changed, in words (staff pages, the API).
    changes = models.JSONField(default=list, blank=True)
    source = models.CharField(max_length=255, blank=True)
    imported_at = models.DateTimeField(default=timezone.now)
    # The import row of the record's first ecosystem (none for a record that
    # names no package).
    advisory_import = models.ForeignKey(
        AdvisoryImport,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="revisions",
    )

    class Meta:
        ordering = ["vulnerability", "-imported_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["vulnerability", "sha256"],
                name="advisory_revision_once",
                violation_error_message="This revision of the record is stored.",
            ),
        ]

    def __str__(self) -> str:
        when = f"{self.modified_at:%Y-%m-%d %H:%M} UTC" if self.modified_at else "?"
        return f"Revision modified {when}"
