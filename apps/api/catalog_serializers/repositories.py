"""Repositories, their series and variants."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.catalog.models import Repository, Series, Variant
from apps.vulns.selectors import assessment as vuln_assessment

from .assessment import RepositoryAssessmentOut
from .common import absolute_url, assessment_of


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
        found = assessment_of(
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
            template = absolute_url(
                self, Repository(name=PLACEHOLDER).get_absolute_url()
            )
            self.context["repository_page"] = template
        return template.replace(PLACEHOLDER, obj.name, 1)


class RepositoryDetailOut(RepositoryOut):
    series = SeriesInRepositoryOut(many=True, read_only=True)

    class Meta(RepositoryOut.Meta):
        fields = [*RepositoryOut.Meta.fields, "series"]
