"""The query filters each catalog list takes: serializers, so a bad value is a
400 naming the parameter and the schema lists each with its type and choices."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from apps.catalog.models import Repository, Series, Variant
from apps.catalog.services import normalize_digest
from apps.vulns.models import Finding, Severity, VexStatement


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
