"""The public catalog API: output serializers, and the query filters each list takes.

Filters are serializers too, so a bad value is a 400 naming the parameter, and
the OpenAPI schema lists every parameter with its type and choices.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.accounts.models import ApiToken
from apps.catalog.models import (
    Attestation,
    ImageDigest,
    Repository,
    Series,
    TagEvent,
    Variant,
)
from apps.catalog.selectors import EvidenceAccess, evidence_access, evidence_features
from apps.catalog.services import normalize_digest
from apps.fips.models import CryptoModule, DigestCryptoModule
from apps.fips.status import module_status
from apps.vulns import assessment as vuln_assessment
from apps.vulns.models import (
    AdvisoryRevision,
    Component,
    Finding,
    Severity,
    VexDocument,
    VexStatement,
    Vulnerability,
)

# --------------------------------------------------------------------------
# Query filters
# --------------------------------------------------------------------------


class DigestParam(serializers.CharField):
    """A ``sha256:<64 hex>`` digest (a bare 64-hex string is accepted too)."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        try:
            return normalize_digest(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(
                "Not a sha256 digest: expected sha256: and 64 hex digits."
            ) from exc


def _choice(choices) -> serializers.ChoiceField:
    return serializers.ChoiceField(choices=choices, required=False)


class RepositoryFilterIn(serializers.Serializer):
    q = serializers.CharField(
        required=False,
        max_length=200,
        help_text="Words that must all appear in the name, description or tags.",
    )
    category = _choice(Repository.Category.choices)
    flavor = serializers.ChoiceField(
        choices=Variant.Flavor.choices,
        required=False,
        help_text="Only repositories with a variant of this flavor.",
    )
    fips = serializers.BooleanField(
        required=False, help_text="true: only those with a FIPS variant."
    )
    stig = serializers.BooleanField(
        required=False, help_text="true: only those with a STIG variant."
    )
    els = serializers.BooleanField(
        required=False,
        help_text="true: only those with extended lifecycle support running.",
    )


class SeriesFilterIn(serializers.Serializer):
    repository = serializers.SlugField(required=False, help_text="Repository name.")
    status = serializers.ChoiceField(
        choices=Series.Status.choices,
        required=False,
        help_text="Lifecycle status today.",
    )


class DigestFilterIn(serializers.Serializer):
    repository = serializers.SlugField(required=False, help_text="Repository name.")
    series = serializers.IntegerField(
        required=False, min_value=1, help_text="Series id."
    )
    flavor = _choice(Variant.Flavor.choices)
    fips = serializers.BooleanField(required=False, allow_null=True, default=None)
    stig = serializers.BooleanField(required=False, allow_null=True, default=None)


class ComponentFilterIn(serializers.Serializer):
    digest = DigestParam(required=False, help_text="Components a build's SBOM lists.")
    type = serializers.CharField(
        required=False, max_length=32, help_text="Package URL type."
    )
    name = serializers.CharField(
        required=False, max_length=255, help_text="Exact package name."
    )


class VulnerabilityFilterIn(serializers.Serializer):
    id = serializers.CharField(
        required=False, max_length=100, help_text="Advisory id or one of its aliases."
    )
    severity = _choice(Severity.choices)
    kev = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Listed in CISA's Known Exploited Vulnerabilities catalog.",
    )


class FindingFilterIn(serializers.Serializer):
    repository = serializers.SlugField(required=False, help_text="Repository name.")
    series = serializers.IntegerField(
        required=False, min_value=1, help_text="Series id."
    )
    digest = DigestParam(required=False)
    severity = _choice(Severity.choices)
    status = _choice(Finding.Status.choices)
    kev = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="The vulnerability is in CISA's KEV catalog.",
    )
    vulnerability = serializers.CharField(
        required=False, max_length=100, help_text="Advisory id."
    )


class VexStatementFilterIn(serializers.Serializer):
    vulnerability = serializers.CharField(
        required=False, max_length=100, help_text="Advisory id."
    )
    repository = serializers.SlugField(required=False, help_text="Repository name.")
    digest = DigestParam(required=False)
    status = _choice(VexStatement.Status.choices)


# --------------------------------------------------------------------------
# What may be said of builds' vulnerabilities
# --------------------------------------------------------------------------


class AdvisorySourceOut(serializers.Serializer):
    name = serializers.CharField(help_text="``OSV <ecosystem>``.")
    ecosystem = serializers.CharField(help_text="As the OSV records name it.")
    imported_at = serializers.DateTimeField(help_text="Its last import.")
    records = serializers.IntegerField(help_text="Records of it held.")
    records_in_last_import = serializers.IntegerField(source="records_imported")
    imported_from = serializers.CharField(source="source")


class EcosystemOut(serializers.Serializer):
    ecosystem = serializers.CharField(
        source="key", help_text="Purl type, and the distribution release if any."
    )
    label = serializers.CharField()
    components = serializers.IntegerField()
    covered = serializers.BooleanField(
        help_text="An advisory source covers it; else its components are not checked."
    )
    sources = AdvisorySourceOut(many=True)


ASSESSMENT_STATES = list(vuln_assessment.STATE_LABELS.items())


class AssessmentOut(serializers.Serializer):
    """What may be said of a build's vulnerabilities, and on what evidence."""

    state = serializers.ChoiceField(choices=ASSESSMENT_STATES)
    text = serializers.CharField(help_text="The statement, with its sources.")
    summary = serializers.CharField()
    has_sbom = serializers.BooleanField()
    open_vulnerabilities = serializers.IntegerField(
        source="stated_open",
        allow_null=True,
        help_text="Advisories with an open finding; null where no count may be "
        "stated (zero, and the build not fully assessed).",
    )
    ecosystems = EcosystemOut(many=True)


class RepositoryAssessmentOut(serializers.Serializer):
    """The latest build of each variant, taken together."""

    state = serializers.ChoiceField(choices=ASSESSMENT_STATES)
    text = serializers.CharField()
    summary = serializers.CharField()
    latest_builds = serializers.IntegerField(source="builds")
    not_assessed = serializers.IntegerField(help_text="Latest builds without one.")
    open_vulnerabilities = serializers.IntegerField(
        source="stated_open", allow_null=True
    )
    uncovered_ecosystems = serializers.ListField(
        source="missing", child=serializers.CharField()
    )
    sources = AdvisorySourceOut(many=True)


def _answer_rows(serializer, obj) -> list:
    """The rows of this answer: the page for a list, else the one object."""
    root = serializer.root
    if isinstance(root, serializers.ListSerializer) and root.instance is not None:
        return list(root.instance)
    return [obj]


def _assessment_of(serializer, obj, key: str, read):
    """One read for every row of the answer, kept in its context."""
    found = serializer.context.setdefault(key, {})
    if obj.pk not in found:
        found.update(read([row.pk for row in _answer_rows(serializer, obj)]))
    return found[obj.pk]


# --------------------------------------------------------------------------
# Repositories, series, variants
# --------------------------------------------------------------------------


class VariantOut(serializers.ModelSerializer):
    suffix = serializers.CharField(read_only=True)

    class Meta:
        model = Variant
        fields = ["id", "flavor", "fips", "stig", "suffix"]


class SeriesStatusMixin(serializers.Serializer):
    status = serializers.SerializerMethodField()

    @extend_schema_field(serializers.ChoiceField(choices=Series.Status.choices))
    def get_status(self, obj: Series) -> str:
        return obj.status_on(self.context.get("today") or timezone.now().date())


class SeriesInRepositoryOut(SeriesStatusMixin, serializers.ModelSerializer):
    variants = VariantOut(many=True, read_only=True)

    class Meta:
        model = Series
        fields = [
            "id",
            "name",
            "upstream_ga",
            "upstream_eol",
            "support_end",
            "els_end",
            "status",
            "variants",
        ]


class SeriesOut(SeriesInRepositoryOut):
    repository = serializers.SlugRelatedField(slug_field="name", read_only=True)

    class Meta(SeriesInRepositoryOut.Meta):
        fields = ["id", "repository", *SeriesInRepositoryOut.Meta.fields[1:]]


# Stands for the name in the repository page's URL; it cannot occur in the
# scheme, host or path prefix around it (repository names are slugs).
PLACEHOLDER = "--repository--"


class RepositoryOut(serializers.ModelSerializer):
    has_fips = serializers.BooleanField(read_only=True)
    has_stig = serializers.BooleanField(read_only=True)
    has_dev = serializers.BooleanField(read_only=True)
    has_els = serializers.BooleanField(
        read_only=True, help_text="Extended lifecycle support runs for some series."
    )
    page = serializers.SerializerMethodField()
    vulnerabilities = serializers.SerializerMethodField(
        help_text="The latest build of each variant: assessed, partially "
        "assessed or not assessed, and the open vulnerabilities found."
    )

    class Meta:
        model = Repository
        fields = [
            "name",
            "display_name",
            "description",
            "category",
            "tags",
            "is_generated",
            "has_fips",
            "has_stig",
            "has_dev",
            "has_els",
            "created_at",
            "page",
            "vulnerabilities",
        ]

    @extend_schema_field(RepositoryAssessmentOut)
    def get_vulnerabilities(self, obj: Repository) -> dict:
        found = _assessment_of(
            self,
            obj,
            "repository_assessments",
            lambda ids: vuln_assessment.repository_assessments(repository_ids=ids),
        )
        return RepositoryAssessmentOut(found).data

    @extend_schema_field(OpenApiTypes.URI)
    def get_page(self, obj: Repository) -> str:
        # One reverse() per answer, not per row: the page's URL with a
        # placeholder name, filled in for each repository.
        template = self.context.get("repository_page")
        if template is None:
            template = _absolute(self, Repository(name=PLACEHOLDER).get_absolute_url())
            self.context["repository_page"] = template
        return template.replace(PLACEHOLDER, obj.name, 1)


class RepositoryDetailOut(RepositoryOut):
    series = SeriesInRepositoryOut(many=True, read_only=True)

    class Meta(RepositoryOut.Meta):
        fields = [*RepositoryOut.Meta.fields, "series"]


def _absolute(serializer, path: str) -> str:
    request = serializer.context.get("request")
    return request.build_absolute_uri(path) if request is not None else path


# --------------------------------------------------------------------------
# Digests and their evidence
# --------------------------------------------------------------------------


def _evidence_access(serializer, image: ImageDigest):
    """The requester's access to a build's evidence, asked once per build."""
    answers = serializer.context.setdefault("evidence_access", {})
    if image.pk not in answers:
        request = serializer.context.get("request")
        token = getattr(request, "auth", None)
        if not isinstance(token, ApiToken):
            token = None
        if token is not None and not token.has_scope(ApiToken.Scope.EVIDENCE_READ):
            answers[image.pk] = EvidenceAccess(
                allowed=False, features=evidence_features(variant=image.variant)
            )
        else:
            answers[image.pk] = evidence_access(
                image=image, user=getattr(request, "user", None), token=token
            )
    return answers[image.pk]


class AttestationWarningOut(serializers.Serializer):
    message = serializers.CharField()
    count = serializers.IntegerField(help_text="How many places in the document.")
    path = serializers.CharField(help_text="The first place, as a JSON path.")


class AttestationOut(serializers.ModelSerializer):
    download = serializers.SerializerMethodField()
    warnings = AttestationWarningOut(
        many=True,
        read_only=True,
        help_text="Where the document departs from its format's schema in fields "
        "the portal does not read, grouped; a departure in what it reads refuses "
        "the document.",
    )
    requires_entitlements = serializers.SerializerMethodField(
        help_text="Entitlements a download needs (FIPS/STIG evidence); empty: public."
    )
    downloadable = serializers.SerializerMethodField(
        help_text="Whether this request's credentials may download it: FIPS/STIG "
        "evidence needs an API token with evidence:read of an entitled "
        "organization."
    )

    class Meta:
        model = Attestation
        fields = [
            "id",
            "kind",
            "media_type",
            "spec_version",
            "sha256",
            "size",
            "signer_key_id",
            "signature_verified",
            "summary",
            "subject_status",
            "subject_digests",
            "subject_named",
            "subject_override_reason",
            "subject_override_at",
            "warnings",
            "created_at",
            "download",
            "requires_entitlements",
            "downloadable",
        ]

    @extend_schema_field(OpenApiTypes.URI)
    def get_download(self, obj: Attestation) -> str:
        return _absolute(
            self, reverse("catalog:attestation_download", kwargs={"pk": obj.pk})
        )

    def get_requires_entitlements(self, obj: Attestation) -> list[str]:
        return list(evidence_features(variant=obj.digest.variant))

    def get_downloadable(self, obj: Attestation) -> bool:
        return _evidence_access(self, obj.digest).allowed


class TagEventOut(serializers.ModelSerializer):
    class Meta:
        model = TagEvent
        fields = ["tag", "assigned_at", "removed_at", "removal_reason"]


class DigestOut(serializers.ModelSerializer):
    repository = serializers.CharField(
        source="variant.series.repository.name", read_only=True
    )
    series = serializers.CharField(source="variant.series.name", read_only=True)
    series_id = serializers.IntegerField(source="variant.series_id", read_only=True)
    variant = VariantOut(read_only=True)
    tags = serializers.SerializerMethodField(help_text="Tags pointing at it now.")
    page = serializers.SerializerMethodField()
    vulnerabilities = serializers.SerializerMethodField(
        help_text="Assessed, partially assessed or not assessed, with the "
        "advisory sources per ecosystem and the open vulnerabilities found."
    )

    class Meta:
        model = ImageDigest
        fields = [
            "digest",
            "repository",
            "series",
            "series_id",
            "variant",
            "architectures",
            "built_at",
            "tags",
            "page",
            "vulnerabilities",
        ]

    @extend_schema_field(AssessmentOut)
    def get_vulnerabilities(self, obj: ImageDigest) -> dict:
        found = _assessment_of(
            self,
            obj,
            "digest_assessments",
            lambda ids: vuln_assessment.digest_assessments(digest_ids=ids),
        )
        return AssessmentOut(found).data

    def get_tags(self, obj: ImageDigest) -> list[str]:
        return [t.tag for t in obj.current_tags]

    @extend_schema_field(OpenApiTypes.URI)
    def get_page(self, obj: ImageDigest) -> str:
        return _absolute(self, obj.get_absolute_url())


class CryptoModuleOut(serializers.ModelSerializer):
    """A validated module a FIPS build carries, with the registry's record of
    its CMVP certificate."""

    certificate_number = serializers.IntegerField(source="module.certificate_number")
    name = serializers.CharField(source="module.name")
    vendor = serializers.CharField(source="module.vendor")
    module_version = serializers.CharField(source="module.module_version")
    standard = serializers.CharField(source="module.standard")
    status = serializers.SerializerMethodField(
        help_text="Today, derived from the dates: historical once the sunset "
        "date has come, whatever the registry row says."
    )
    status_label = serializers.SerializerMethodField()
    registry_status = serializers.ChoiceField(
        source="module.status",
        choices=CryptoModule.Status.choices,
        help_text="What the module registry's row says.",
    )
    validation_date = serializers.DateField(source="module.validation_date")
    sunset_date = serializers.DateField(source="module.sunset_date", allow_null=True)
    security_policy_url = serializers.CharField(source="module.security_policy_url")

    class Meta:
        model = DigestCryptoModule
        fields = [
            "certificate_number",
            "name",
            "vendor",
            "module_version",
            "standard",
            "status",
            "status_label",
            "registry_status",
            "validation_date",
            "sunset_date",
            "security_policy_url",
            "package",
            "declared_version",
        ]

    def _status(self, obj: DigestCryptoModule):
        return module_status(
            obj.module, on=self.context.get("today") or timezone.now().date()
        )

    @extend_schema_field(serializers.ChoiceField(choices=CryptoModule.Status.choices))
    def get_status(self, obj: DigestCryptoModule) -> str:
        return self._status(obj).status

    def get_status_label(self, obj: DigestCryptoModule) -> str:
        return self._status(obj).label


class DigestDetailOut(DigestOut):
    tag_history = TagEventOut(many=True, read_only=True)
    attestations = AttestationOut(many=True, read_only=True)
    crypto_modules = CryptoModuleOut(
        many=True,
        read_only=True,
        help_text="FIPS builds: the validated modules its FIPS attestation states.",
    )

    class Meta(DigestOut.Meta):
        fields = [
            *DigestOut.Meta.fields,
            "tag_history",
            "attestations",
            "crypto_modules",
        ]


# --------------------------------------------------------------------------
# Components, vulnerabilities, findings, VEX
# --------------------------------------------------------------------------


class ComponentOut(serializers.ModelSerializer):
    class Meta:
        model = Component
        fields = [
            "id",
            "purl",
            "type",
            "namespace",
            "name",
            "version",
            "source_name",
            "distro",
            "licenses",
        ]


VULNERABILITY_FIELDS = [
    "vuln_id",
    "aliases",
    "summary",
    "disclosed_at",
    "modified_at",
    "withdrawn_at",
    "severity",
    "vendor_severity",
    "cvss_v4_vector",
    "cvss_v4_score",
    "cvss_v3_vector",
    "cvss_v3_score",
    "kev",
    "kev_date_added",
    "kev_due_date",
    "kev_ransomware",
    "references",
]


class VulnerabilityOut(serializers.ModelSerializer):
    class Meta:
        model = Vulnerability
        fields = VULNERABILITY_FIELDS


class AdvisoryRevisionOut(serializers.ModelSerializer):
    class Meta:
        model = AdvisoryRevision
        fields = [
            "modified_at",
            "withdrawn_at",
            "sha256",
            "applied",
            "changes",
            "source",
            "imported_at",
        ]


class VulnerabilityDetailOut(serializers.ModelSerializer):
    # Every version of the record the portal received, newest first; one
    # older than the record in force when it arrived is not applied.
    revisions = AdvisoryRevisionOut(many=True, read_only=True)

    class Meta:
        model = Vulnerability
        fields = [
            *VULNERABILITY_FIELDS[:3],
            "details",
            *VULNERABILITY_FIELDS[3:],
            "revisions",
        ]


class FindingComponentOut(serializers.ModelSerializer):
    class Meta:
        model = Component
        fields = ["id", "purl", "type", "name", "version"]


class FindingOut(serializers.ModelSerializer):
    digest = serializers.CharField(source="digest.digest", read_only=True)
    repository = serializers.CharField(
        source="digest.variant.series.repository.name", read_only=True
    )
    series = serializers.CharField(source="digest.variant.series.name", read_only=True)
    series_id = serializers.IntegerField(
        source="digest.variant.series_id", read_only=True
    )
    vulnerability = serializers.CharField(
        source="vulnerability.vuln_id", read_only=True
    )
    kev = serializers.BooleanField(source="vulnerability.kev", read_only=True)
    component = FindingComponentOut(read_only=True)
    fixed_in = serializers.SerializerMethodField()

    class Meta:
        model = Finding
        fields = [
            "id",
            "digest",
            "repository",
            "series",
            "series_id",
            "vulnerability",
            "severity",
            "kev",
            "status",
            "component",
            "fixed_version",
            "disclosed_at",
            "upstream_fix_at",
            "detected_at",
            "fixed_published_at",
            "fixed_in",
            "withdrawn_at",
            "withdrawn_reason",
        ]

    def get_fixed_in(self, obj: Finding) -> str | None:
        return obj.fixed_in.digest if obj.fixed_in is not None else None


class VexDocumentOut(serializers.ModelSerializer):
    class Meta:
        model = VexDocument
        fields = [
            "id",
            "format",
            "spec_version",
            "document_id",
            "author",
            "issued_at",
            "version",
            "statement_count",
        ]


class VexStatementOut(serializers.ModelSerializer):
    vulnerability = serializers.CharField(
        source="vulnerability.vuln_id", read_only=True
    )
    repository = serializers.SlugRelatedField(
        slug_field="name", read_only=True, allow_null=True
    )
    digest = serializers.SlugRelatedField(
        slug_field="digest", read_only=True, allow_null=True
    )
    document = VexDocumentOut(read_only=True)

    class Meta:
        model = VexStatement
        fields = [
            "id",
            "vulnerability",
            "statement_index",
            "product",
            "subcomponent",
            "repository",
            "digest",
            "status",
            "justification",
            "impact_statement",
            "action_statement",
            "status_notes",
            "author",
            "timestamp",
            "document",
        ]
