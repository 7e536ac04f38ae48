"""FedRAMP CR26 over the API (org-scoped token).

- ``/api/v1/fedramp/documents/`` (``evidence:read``): what the organization
  can download; ``/api/v1/fedramp/documents/<kind>/?start=&end=`` the
  document for a window of whole days (end included; by default last month):
  ``vdt`` (VER-RPT-VDT), ``avi`` (VER-RPT-AVI), ``history`` (VER-TFR-MRH:
  automated retrieval of the historical activity) and ``cmu`` (the crypto-
  module inventory). Each is checked against its schema as it is made; each
  download is an audit event.
- ``/api/v1/fedramp/profile/`` and ``/api/v1/fedramp/exposures/``: the class
  and each mirrored repository's IRV and PAIN, read with ``sla:read``, set
  with ``sla:write`` (a token of an owner or admin).

A clock's CR26 measure is in ``/api/v1/sla/clocks/<id>/`` and its own
evaluation is posted to ``/api/v1/sla/clocks/<id>/evaluate/``.
"""

from __future__ import annotations

import hashlib

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from apps.accounts.models import ApiToken
from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.catalog.models import Repository
from apps.reports.evidence.fedramp import FILE_NAMES, TITLES, fedramp_pack
from apps.reports.fedramp_views import FedrampWindowForm
from apps.reports.formats.fedramp_ver import document_bytes
from apps.sla.models import SlaClock
from apps.sla.selectors.fedramp import fedramp_inputs, fedramp_mirror_exposures
from apps.sla.services import fedramp as services

from .base import OrgScopedViewSet
from .errors import api_validation_error

Scope = ApiToken.Scope
KINDS = tuple(FILE_NAMES)

WINDOW = [
    OpenApiParameter(
        "start", OpenApiTypes.DATE, description="First day of the window (UTC)."
    ),
    OpenApiParameter(
        "end", OpenApiTypes.DATE, description="Last day of the window, included."
    ),
]


def _window(request) -> FedrampWindowForm:
    form = FedrampWindowForm(request.query_params)
    if not form.is_valid():
        raise serializers.ValidationError(
            {
                ("non_field_errors" if k == "__all__" else k): v
                for k, v in form.errors.items()
            }
        )
    return form


class FedrampDocumentViewSet(OrgScopedViewSet):
    """The organization's FedRAMP documents for a window."""

    required_scopes = {"list": Scope.EVIDENCE_READ, "retrieve": Scope.EVIDENCE_READ}
    base_queryset = SlaClock.objects.all()
    pagination_class = None
    lookup_value_regex = "[^/.]+"

    @extend_schema(
        operation_id="fedramp_documents_list",
        responses=OpenApiTypes.OBJECT,
        summary="The FedRAMP documents the organization can download",
    )
    def list(self, request, format=None):
        inputs = fedramp_inputs(org=self.org)
        klass = inputs.certification_class
        kinds = KINDS if klass else ("cmu",)
        return Response(
            {
                "org": self.org.pk,
                "certification_class": klass or None,
                "package_uri": inputs.profile.package_uri if klass else None,
                "documents": {
                    kind: {
                        "title": TITLES[kind],
                        "url": request.build_absolute_uri(
                            reverse("api:fedrampdocument-detail", args=[kind])
                        ),
                    }
                    for kind in kinds
                },
            }
        )

    @extend_schema(
        operation_id="fedramp_documents_retrieve",
        parameters=WINDOW,
        responses=OpenApiTypes.OBJECT,
        summary="One FedRAMP document (vdt, avi, history or cmu) for a window",
    )
    def retrieve(self, request, pk=None, format=None):
        if pk not in KINDS:
            raise Http404("No such document.")
        form = _window(request)
        start, end = form.bounds()
        document = fedramp_pack(org=self.org, start=start, end=end).documents.get(pk)
        if document is None:
            raise Http404(
                "The organization had no FedRAMP class by the window's end: the "
                "VER reports do not apply."
            )
        content = document_bytes(document)
        digest = hashlib.sha256(content).hexdigest()
        audit_record(
            action=AuditEvent.Action.EVIDENCE_DOWNLOADED,
            actor=request.user,
            org=self.org,
            request=request,
            details={
                "document": f"fedramp-{pk}",
                "window": [
                    str(form.cleaned_data["start"]),
                    str(form.cleaned_data["end"]),
                ],
                "sha256": digest,
                "via": "token",
                "token": request.auth.prefix,
            },
        )
        response = HttpResponse(content, content_type="application/json")
        response["X-Content-SHA256"] = digest
        return response


# --- inputs --------------------------------------------------------------------


def _who(row) -> dict:
    return {
        "set_at": row.set_at,
        "set_by": row.set_by.email,
        "by_staff": row.set_by_staff,
        "reason": row.reason,
    }


class ProfileIn(serializers.Serializer):
    certification_class = serializers.ChoiceField(
        choices=["", "A", "B", "C", "D"], allow_blank=True
    )
    package_uri = serializers.CharField(
        max_length=services.URI_MAX, required=False, allow_blank=True
    )
    reason = serializers.CharField(
        max_length=services.REASON_MAX, required=False, allow_blank=True
    )


class FedrampProfileViewSet(OrgScopedViewSet):
    """The organization's FedRAMP certification class, with its history."""

    required_scopes = {"list": Scope.SLA_READ, "create": Scope.SLA_WRITE}
    base_queryset = SlaClock.objects.all()
    pagination_class = None

    def _answer(self, code=status.HTTP_200_OK) -> Response:
        inputs = fedramp_inputs(org=self.org)
        profile = inputs.profile
        return Response(
            {
                "org": self.org.pk,
                "certification_class": profile.certification_class or None
                if profile
                else None,
                "package_uri": profile.package_uri or None if profile else None,
                "history": [
                    {
                        "certification_class": p.certification_class or None,
                        "package_uri": p.package_uri or None,
                        **_who(p),
                    }
                    for p in reversed(inputs.profiles)
                ],
            },
            status=code,
        )

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def list(self, request, format=None):
        return self._answer()

    @extend_schema(request=ProfileIn, responses={201: OpenApiTypes.OBJECT})
    def create(self, request, format=None):
        data = ProfileIn(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            services.fedramp_profile_set(
                org=self.org, actor=request.user, request=request, **data.validated_data
            )
        except DjangoValidationError as exc:
            raise api_validation_error(exc) from exc
        return self._answer(status.HTTP_201_CREATED)


class ExposureIn(serializers.Serializer):
    repository = serializers.SlugRelatedField(
        slug_field="name", queryset=Repository.objects.all()
    )
    internet_reachable = serializers.BooleanField()
    pain = serializers.IntegerField(min_value=1, max_value=5)
    reason = serializers.CharField(
        max_length=services.REASON_MAX, required=False, allow_blank=True
    )


class FedrampExposureViewSet(OrgScopedViewSet):
    """Each mirrored repository's IRV and PAIN, with their history; ``id``
    is the mirror's."""

    required_scopes = {"list": Scope.SLA_READ, "create": Scope.SLA_WRITE}
    base_queryset = SlaClock.objects.all()
    pagination_class = None

    def _rows(self) -> list[dict]:
        rows = []
        for entry in fedramp_mirror_exposures(org=self.org):
            current = entry.current
            rows.append(
                {
                    "id": entry.mirror.pk,
                    "repository": entry.mirror.repository.name,
                    "internet_reachable": current.internet_reachable
                    if current
                    else None,
                    "pain": current.pain if current else None,
                    "history": [
                        {
                            "internet_reachable": h.internet_reachable,
                            "pain": h.pain,
                            **_who(h),
                        }
                        for h in reversed(entry.history)
                    ],
                }
            )
        return rows

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def list(self, request, format=None):
        return Response({"results": self._rows()})

    @extend_schema(request=ExposureIn, responses={201: OpenApiTypes.OBJECT})
    def create(self, request, format=None):
        data = ExposureIn(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            services.fedramp_exposure_set(
                org=self.org, actor=request.user, request=request, **data.validated_data
            )
        except DjangoValidationError as exc:
            raise api_validation_error(exc) from exc
        return Response({"results": self._rows()}, status=status.HTTP_201_CREATED)
