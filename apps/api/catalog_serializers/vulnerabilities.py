"""Components, vulnerabilities and their revisions, findings, VEX documents
and statements."""

from __future__ import annotations

from rest_framework import serializers

from apps.vulns.models import (
    AdvisoryRevision,
    Component,
    Finding,
    VexDocument,
    VexStatement,
    Vulnerability,
)


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
