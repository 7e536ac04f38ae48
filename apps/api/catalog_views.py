"""The public catalog API: read-only, open to anyone, like the catalog pages.

No organization is involved, so these views do not use ``OrgScopedViewSet``.
A request with a token is still authenticated (a bad token is a 401) and
throttled per token; one without is throttled per client address.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache
from django.http import Http404, HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from apps.catalog import selectors as catalog
from apps.catalog.generation import KEY as GENERATION_KEY
from apps.catalog.generation import catalog_generation
from apps.fips.selectors import digest_list_with_modules
from apps.reports.statements import (
    SIGNATURE_DSSE,
    SIGNATURE_PARAM,
    signature_wanted,
    signed_response,
)
from apps.vulns import selectors as vulns
from apps.vulns.selectors import (
    NoVexStatements,
    cyclonedx_vex_export_for_digest,
    openvex_export_for_digest,
    openvex_export_for_repository,
)

from .catalog_serializers.digests import DigestDetailOut, DigestOut
from .catalog_serializers.filters import (
    ComponentFilterIn,
    DigestFilterIn,
    FindingFilterIn,
    RepositoryFilterIn,
    SeriesFilterIn,
    VexStatementFilterIn,
    VulnerabilityFilterIn,
)
from .catalog_serializers.repositories import (
    RepositoryDetailOut,
    RepositoryOut,
    SeriesOut,
)
from .catalog_serializers.vulnerabilities import (
    ComponentOut,
    FindingOut,
    VexStatementOut,
    VulnerabilityDetailOut,
    VulnerabilityOut,
)
from .pagination import CursorPagination

# Query parameters every list understands besides its filters.
PAGING_PARAMS = frozenset({"cursor", "page_size", "format"})


def _cursor(field: str) -> type[CursorPagination]:
    """Cursor pagination on one unique, unchanging field."""
    return type(
        f"CursorBy{field.strip('-').title()}", (CursorPagination,), {"ordering": field}
    )


class PublicCatalogViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """List and retrieve for everyone. ``filter_class`` validates the list's
    query parameters; ``list_queryset`` and ``detail_queryset`` call selectors."""

    permission_classes = [AllowAny]
    filter_class: type[serializers.Serializer] = serializers.Serializer
    detail_serializer_class: type[serializers.Serializer] | None = None
    # True where list and detail answer the same to everyone and are built from
    # repositories, series and variants (and the assessment of their latest
    # builds, whose writers renew the generation too: matching, OSV imports):
    # their JSON is then cached whole, per absolute URL and day, and served
    # while the catalog's generation is the one it was built in.
    # Authentication and throttling still run first on every request.
    shared_answers = False
    _store_as: tuple[str, str] | None = None

    def list(self, request, *args, **kwargs):
        return self._shared(super().list, request, *args, **kwargs)

    def retrieve(self, request, *args, **kwargs):
        return self._shared(super().retrieve, request, *args, **kwargs)

    def _shared(self, build, request, *args, **kwargs):
        seconds = settings.API_CATALOG_CACHE_SECONDS
        if not self.shared_answers or seconds <= 0:
            return build(request, *args, **kwargs)
        url = hashlib.sha256(request.build_absolute_uri().encode()).hexdigest()
        key = f"api:shared:{timezone.now().date()}:{url}"
        # One round trip: the catalog's generation and the stored answer,
        # which is good only if it was built in this generation.
        found = cache.get_many([GENERATION_KEY, key])
        generation = found.get(GENERATION_KEY) or catalog_generation()
        stored = found.get(key)
        if stored is not None and stored[0] == generation:
            return HttpResponse(stored[1], content_type=stored[2])
        self._store_as = (key, generation)
        return build(request, *args, **kwargs)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if (
            self._store_as
            and isinstance(response, Response)
            and response.status_code == 200
        ):
            key, generation = self._store_as
            response.render()
            cache.set(
                key,
                (generation, response.content, response["Content-Type"]),
                settings.API_CATALOG_CACHE_SECONDS,
            )
        return response

    def filters(self) -> dict:
        params = self.request.query_params
        known = set(self.filter_class().fields)
        # A mistyped filter must not silently answer everything.
        unknown = sorted(set(params) - known - PAGING_PARAMS)
        if unknown:
            raise serializers.ValidationError(
                {
                    name: [f"Unknown parameter; filters: {', '.join(sorted(known))}."]
                    for name in unknown
                }
            )
        data = self.filter_class(data=params)
        data.is_valid(raise_exception=True)
        return {k: v for k, v in data.validated_data.items() if v not in ("", None)}

    def list_queryset(self, filters: dict):
        raise NotImplementedError

    def detail_queryset(self):
        return self.list_queryset({})

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.detail_queryset().none()
        if self.action == "list":
            return self.list_queryset(self.filters())
        return self.detail_queryset()

    def get_serializer_class(self):
        if self.action == "retrieve" and self.detail_serializer_class is not None:
            return self.detail_serializer_class
        return self.serializer_class

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "today": timezone.now().date()}


def _vex(request, export, **target) -> HttpResponse:
    """The publisher's VEX for ``target``; with ``?signature=dsse``, a DSSE
    envelope by the portal's key whose payload is the exact bytes the same
    URL serves without it."""
    signed = signature_wanted(request.query_params)
    try:
        document = export(**target)
    except NoVexStatements as exc:
        raise Http404("The publisher has made no VEX statement for it.") from exc
    if not signed:
        return Response(document)
    return signed_response(
        JSONRenderer().render(document), payload_type=JSONRenderer.media_type
    )


SIGNATURE_PARAMETER = OpenApiParameter(
    SIGNATURE_PARAM,
    str,
    enum=[SIGNATURE_DSSE],
    required=False,
    description="dsse: answer a DSSE envelope (application/vnd.dsse.envelope.v1"
    "+json) whose payload is the exact bytes served without this parameter, "
    "signed by the portal's report-signing key and naming its key id; check it "
    "with manage.py verify_evidence.",
)


def _filtered(filter_class):
    return extend_schema_view(list=extend_schema(parameters=[filter_class]))


@_filtered(RepositoryFilterIn)
class RepositoryViewSet(PublicCatalogViewSet):
    """Image repositories, by name."""

    serializer_class = RepositoryOut
    detail_serializer_class = RepositoryDetailOut
    filter_class = RepositoryFilterIn
    shared_answers = True
    pagination_class = _cursor("name")
    lookup_field = "name"

    def list_queryset(self, filters):
        return catalog.repository_list(filters=catalog.RepositoryFilter(**filters))

    def detail_queryset(self):
        return catalog.repository_list_detailed()

    @extend_schema(
        parameters=[SIGNATURE_PARAMETER],
        responses={200: OpenApiTypes.OBJECT, 400: None, 404: None},
    )
    @action(detail=True, methods=["get"], url_path="openvex")
    def openvex(self, request, name=None, format=None):
        """The publisher's OpenVEX v0.2.0 document for this repository."""
        return _vex(
            request, openvex_export_for_repository, repository=self.get_object()
        )


@_filtered(SeriesFilterIn)
class SeriesViewSet(PublicCatalogViewSet):
    """Version lines with their lifecycle dates, status today and variants."""

    serializer_class = SeriesOut
    filter_class = SeriesFilterIn
    shared_answers = True
    pagination_class = _cursor("-id")

    def list_queryset(self, filters):
        return catalog.series_list(filters=catalog.SeriesFilter(**filters))


@_filtered(DigestFilterIn)
class DigestViewSet(PublicCatalogViewSet):
    """Builds, by ``sha256:`` digest; the detail adds tag history and attestations."""

    serializer_class = DigestOut
    detail_serializer_class = DigestDetailOut
    filter_class = DigestFilterIn
    pagination_class = _cursor("-id")
    lookup_field = "digest"

    def list_queryset(self, filters):
        return catalog.digest_list(filters=catalog.DigestFilter(**filters))

    def detail_queryset(self):
        return digest_list_with_modules(catalog.digest_list_detailed())

    def get_object(self):
        digest = catalog.digest_lookup(self.kwargs[self.lookup_field])
        if digest is None:
            raise Http404("Not a sha256 digest.")
        self.kwargs[self.lookup_field] = digest
        return super().get_object()

    @extend_schema(
        parameters=[SIGNATURE_PARAMETER],
        responses={200: OpenApiTypes.OBJECT, 400: None, 404: None},
    )
    @action(detail=True, methods=["get"], url_path="openvex")
    def openvex(self, request, digest=None, format=None):
        """The publisher's OpenVEX v0.2.0 document for this build."""
        return _vex(request, openvex_export_for_digest, image=self.get_object())

    @extend_schema(
        parameters=[SIGNATURE_PARAMETER],
        responses={200: OpenApiTypes.OBJECT, 400: None, 404: None},
    )
    @action(detail=True, methods=["get"], url_path="cyclonedx-vex")
    def cyclonedx_vex(self, request, digest=None, format=None):
        """The publisher's VEX for this build as a CycloneDX 1.6 document."""
        return _vex(request, cyclonedx_vex_export_for_digest, image=self.get_object())


@_filtered(ComponentFilterIn)
class ComponentViewSet(PublicCatalogViewSet):
    """Packages found in SBOMs, by package URL."""

    serializer_class = ComponentOut
    filter_class = ComponentFilterIn
    pagination_class = _cursor("-id")

    def list_queryset(self, filters):
        return vulns.component_list(filters=vulns.ComponentFilter(**filters))


@_filtered(VulnerabilityFilterIn)
class VulnerabilityViewSet(PublicCatalogViewSet):
    """Advisories (CVE, GHSA, distribution ids), by id."""

    serializer_class = VulnerabilityOut
    detail_serializer_class = VulnerabilityDetailOut
    filter_class = VulnerabilityFilterIn
    pagination_class = _cursor("-id")
    lookup_field = "vuln_id"

    def list_queryset(self, filters):
        return vulns.vulnerability_list(filters=vulns.VulnerabilityFilter(**filters))


@_filtered(FindingFilterIn)
class FindingViewSet(PublicCatalogViewSet):
    """A vulnerability in a component of a build, with its SLA timestamps."""

    serializer_class = FindingOut
    filter_class = FindingFilterIn
    pagination_class = _cursor("-id")

    def list_queryset(self, filters):
        return vulns.finding_list(filters=vulns.FindingFilter(**filters))


@_filtered(VexStatementFilterIn)
class VexStatementViewSet(PublicCatalogViewSet):
    """The publisher's VEX statements, newest first."""

    serializer_class = VexStatementOut
    filter_class = VexStatementFilterIn
    pagination_class = _cursor("-id")

    def list_queryset(self, filters):
        return vulns.vex_statement_list(filters=vulns.VexStatementFilter(**filters))
