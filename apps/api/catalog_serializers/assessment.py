"""What may be said of builds' vulnerabilities: the assessment a build or
repository has, and the advisory sources behind it."""

from __future__ import annotations

from rest_framework import serializers

from apps.vulns.selectors.assessment_states import STATE_LABELS


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


ASSESSMENT_STATES = list(STATE_LABELS.items())


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
