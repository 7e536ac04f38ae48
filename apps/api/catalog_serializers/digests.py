"""Digests (builds) and their evidence: attestations, tags, crypto modules."""

from __future__ import annotations

from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.accounts.models import ApiToken
from apps.catalog.models import Attestation, ImageDigest, TagEvent, TrustedSigner
from apps.evidence.access import EvidenceAccess, evidence_access, evidence_features
from apps.fips.models import CryptoModule, DigestCryptoModule
from apps.fips.status import module_status
from apps.vulns.selectors import assessment as vuln_assessment

from .assessment import AssessmentOut
from .common import absolute_url, assessment_of
from .repositories import VariantOut


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


class SignatureSignerOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=TrustedSigner.Kind.choices)
    revoked = serializers.BooleanField(
        help_text="Revoked since: what it signed is no longer trusted."
    )


class SignatureOut(serializers.Serializer):
    """What checking an attestation's signature concluded."""

    status = serializers.ChoiceField(
        source="signature_status",
        choices=Attestation.SignatureStatus.choices,
        help_text="verified: a registered signer's valid signature; unverified: no "
        "signature; invalid: a check failed (see check); untrusted: a valid "
        "signature by an unknown, out-of-window or revoked signer.",
    )
    check = serializers.CharField(
        source="signature_check",
        help_text="Which check an invalid or untrusted verdict comes from "
        "(signature, subject, transparency_log, timestamp, certificate, "
        "payload_type, digest, format, unknown_signer, revoked, outside_window); "
        "empty otherwise.",
    )
    signer = SignatureSignerOut(
        source="signature_signer",
        allow_null=True,
        help_text="The registered signer whose key or identity made the signature.",
    )
    identity = serializers.CharField(
        source="signature_identity",
        help_text="The key (algorithm and fingerprint) or certificate identity "
        "that signed.",
    )
    signed_at = serializers.DateTimeField(
        source="signature_signed_at",
        allow_null=True,
        help_text="When it was signed, as a signed timestamp or the transparency "
        "log attests; null when nothing does.",
    )
    checked_at = serializers.DateTimeField(
        source="signature_checked_at", allow_null=True
    )
    message = serializers.CharField(source="signature_message")
    no_longer_trusted = serializers.BooleanField(
        source="signature_no_longer_trusted",
        help_text="Validly signed by a signer revoked since.",
    )


class AttestationOut(serializers.ModelSerializer):
    download = serializers.SerializerMethodField()
    signature = SignatureOut(
        source="*", read_only=True, help_text="The signature check's verdict."
    )
    signature_verified = serializers.BooleanField(
        read_only=True, help_text="Shorthand: signature.status is verified."
    )
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
            "signature",
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
        return absolute_url(
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
        found = assessment_of(
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
        return absolute_url(self, obj.get_absolute_url())


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
