"""A STIG build's scans: the counts for anyone, the rules for entitled tokens.

Like the digest page: the summary of each scan (benchmark, profile, score,
counts by CAT) is public; the rule results are STIG evidence, answered to an
API token with ``evidence:read`` of an organization entitled to STIG for the
repository (and to publisher staff's tokens), and logged as a download.
"""

from __future__ import annotations

from django.http import Http404
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import ApiToken
from apps.catalog import selectors as catalog
from apps.catalog.services import attestation_download_record
from apps.evidence.access import (
    EvidenceAccess,
    evidence_access,
    evidence_features,
)
from apps.stig import selectors as stig
from apps.stig.models import StigRuleResult, StigScan


class StigRuleOut(serializers.ModelSerializer):
    class Meta:
        model = StigRuleResult
        fields = [
            "rule_id",
            "vuln_id",
            "stig_id",
            "title",
            "severity",
            "cat",
            "result",
            "description",
            "check_text",
            "fix_text",
            "finding_details",
            "comments",
            "ccis",
            "weight",
        ]


class StigScanOut(serializers.ModelSerializer):
    attestation = serializers.SerializerMethodField(
        help_text="Download address of the scan document (STIG evidence)."
    )
    rules = serializers.SerializerMethodField(
        help_text="Every rule result; null when this request may not read STIG "
        "evidence (see rules_access)."
    )

    class Meta:
        model = StigScan
        fields = [
            "id",
            "source_format",
            "benchmark_id",
            "benchmark_title",
            "benchmark_version",
            "release_info",
            "profile_id",
            "profile_title",
            "scanner",
            "target",
            "started_at",
            "finished_at",
            "score",
            "score_max",
            "score_system",
            "counts",
            "rule_count",
            "attestation",
            "rules",
        ]

    def get_attestation(self, obj: StigScan) -> str:
        path = reverse("catalog:attestation_download", args=[obj.attestation_id])
        return self.context["request"].build_absolute_uri(path)

    def get_rules(self, obj: StigScan) -> list[dict] | None:
        rules = self.context["rules"].get(obj.pk)
        return None if rules is None else StigRuleOut(rules, many=True).data


class RulesAccessOut(serializers.Serializer):
    allowed = serializers.BooleanField()
    requires_entitlements = serializers.ListField(child=serializers.CharField())
    detail = serializers.CharField()


class DigestStigOut(serializers.Serializer):
    digest = serializers.CharField()
    rules_access = RulesAccessOut()
    scans = StigScanOut(many=True)


def _access(request, image) -> tuple[EvidenceAccess, str]:
    token = request.auth if isinstance(request.auth, ApiToken) else None
    if token is not None and not token.has_scope(ApiToken.Scope.EVIDENCE_READ):
        access = EvidenceAccess(False, evidence_features(variant=image.variant))
        return access, f"This token lacks the {ApiToken.Scope.EVIDENCE_READ} scope."
    user = token.created_by if token is not None else None
    access = evidence_access(image=image, user=user, token=token)
    return access, "" if access.allowed else access.refusal


class DigestStigView(APIView):
    """The latest scan of each STIG benchmark a build was scanned against."""

    permission_classes = [AllowAny]

    @extend_schema(
        responses={200: DigestStigOut, 404: None},
        summary="A STIG build's scans: counts by CAT, and rule results when entitled",
    )
    def get(self, request, digest: str, format=None):
        canonical = catalog.digest_lookup(digest)
        image = catalog.digest_get(digest=canonical) if canonical else None
        if image is None:
            raise Http404("No such digest.")
        if not image.variant.stig:
            raise Http404("This build is not a STIG variant: it has no STIG scans.")
        access, detail = _access(request, image)
        scans = stig.digest_latest_scans(image=image)
        rules: dict[int, list[StigRuleResult]] = {}
        if access.allowed and scans:
            for scan in scans:
                rules[scan.pk] = []
            for rule in stig.scans_rules(scans=scans):
                rules[rule.scan_id].append(rule)
            for scan in scans:
                attestation_download_record(
                    attestation=scan.attestation,
                    org=access.org,
                    features=access.features,
                    via=access.via,
                    actor=request.user,
                    request=request,
                )
        body = {
            "digest": image.digest,
            "rules_access": {
                "allowed": access.allowed,
                "requires_entitlements": list(access.features),
                "detail": detail,
            },
            "scans": StigScanOut(
                scans, many=True, context={"request": request, "rules": rules}
            ).data,
        }
        response = Response(body)
        if access.allowed:
            response["Cache-Control"] = "private, no-store"
        return response
