"""Reports over the API: request one (idempotent by ``request_id``), follow
its progress, download it (logged)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.reverse import reverse

from apps.accounts.models import ApiToken
from apps.reports import selectors
from apps.reports.models import Report
from apps.reports.services.downloads import report_download_record
from apps.reports.services.intake import ORG_KINDS, report_request
from apps.reports.views import (
    report_file_response,
    report_signature_wanted,
    report_signed_response,
)

from .base import OrgScopedViewSet
from .pagination import CursorPagination

Scope = ApiToken.Scope


class ReportOut(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    digest = serializers.CharField(
        source="digest.digest", default=None, allow_null=True
    )
    requested_by = serializers.EmailField(source="requested_by.email", default=None)
    links = serializers.SerializerMethodField()

    class Meta:
        model = Report
        fields = [
            "id",
            "request_id",
            "kind",
            "status",
            "progress",
            "stage",
            "attempts",
            "window_start",
            "window_end",
            "data_cutoff",
            "digest",
            "requested_by",
            "media_type",
            "size",
            "sha256",
            "evidence_sha256",
            "signer_key_id",
            "pages",
            "created_at",
            "finished_at",
            "links",
        ]

    def get_links(self, report: Report) -> dict:
        request = self.context.get("request")
        detail = reverse(
            "api:report-detail", kwargs={"pk": report.public_id}, request=request
        )
        links = {"self": detail}
        if report.status == Report.Status.READY:
            download = reverse(
                "api:report-download",
                kwargs={"pk": report.public_id},
                request=request,
            )
            links["download"] = download
            if report.evidence_file:
                links["evidence"] = f"{download}?part=evidence"
        return links


class ReportIn(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=sorted(ORG_KINDS),
        help_text=(
            "oscal_poam, oscal_results and oscal_components are OSCAL 1.1.2 JSON "
            "(POA&M, Assessment Results, Component Definition); poam is the "
            "legacy XLSX POA&M."
        ),
    )
    window_start = serializers.DateField()
    window_end = serializers.DateField()
    request_id = serializers.CharField(max_length=64)
    digest = serializers.CharField(
        max_length=71, required=False, allow_blank=True, allow_null=True
    )


class ReportPagination(CursorPagination):
    ordering = "-created_at"


class ReportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrgScopedViewSet):
    """The organization's reports. Reading needs ``evidence:read``, requesting
    ``reports:write``."""

    required_scopes = {
        "list": Scope.EVIDENCE_READ,
        "retrieve": Scope.EVIDENCE_READ,
        "download": Scope.EVIDENCE_READ,
        "create": Scope.REPORTS_WRITE,
    }
    serializer_class = ReportOut
    base_queryset = Report.objects.select_related("digest", "requested_by")
    pagination_class = ReportPagination
    lookup_field = "public_id"
    # Named like every other detail route ({id} in the schema); the value is
    # the report's public id.
    lookup_url_kwarg = "pk"
    lookup_value_regex = (
        r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    )

    @extend_schema(request=ReportIn, responses={201: ReportOut, 200: ReportOut})
    def create(self, request, format=None):
        data = ReportIn(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            report, created = report_request(
                org=self.org,
                kind=values["kind"],
                window_start=values["window_start"],
                window_end=values["window_end"],
                request_id=values["request_id"],
                digest=values.get("digest") or None,
                actor=request.user,
                request=request,
                token=request.auth,
            )
        except DjangoValidationError as exc:
            detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
            raise serializers.ValidationError(detail) from exc
        except DjangoPermissionDenied as exc:
            raise exceptions.PermissionDenied(str(exc)) from exc
        return Response(
            ReportOut(report, context={"request": request}).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("part", str, enum=["report", "evidence"], required=False),
            OpenApiParameter(
                "signature",
                str,
                enum=["dsse"],
                required=False,
                description="With part=evidence: a DSSE envelope whose payload is "
                "the evidence JSON as served, signed by the portal's report-"
                "signing key (check it with manage.py verify_evidence).",
            ),
        ],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
    )
    @action(detail=True, methods=["get"])
    def download(self, request, pk=None, format=None):
        report = self.get_object()
        part = (
            "evidence" if request.query_params.get("part") == "evidence" else "report"
        )
        if report.status != Report.Status.READY or not selectors.report_has_part(
            report, part
        ):
            raise Http404("This report has no such file (yet).")
        signed = report_signature_wanted(request.query_params, part)
        report_download_record(
            report=report,
            part=part,
            request=request,
            via="token",
            user=request.user,
            token=request.auth,
        )
        if signed:
            return report_signed_response(report)
        return report_file_response(report, part)
