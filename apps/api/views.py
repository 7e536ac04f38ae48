from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.accounts.models import ApiToken
from apps.audit.models import AuditEvent
from apps.orgs import services as org_services
from apps.orgs.models import AuditorGrant, Membership

from . import serializers as s
from .base import OrgScopedViewSet
from .errors import api_validation_error

Scope = ApiToken.Scope


class OrganizationViewSet(OrgScopedViewSet):
    required_scopes = {"current": Scope.ORG_READ}
    serializer_class = s.OrganizationOut
    pagination_class = None

    @extend_schema(responses=s.OrganizationOut)
    @action(detail=False, methods=["get"], url_path="current")
    def current(self, request, format=None):
        """The organization the token belongs to."""
        return Response(s.OrganizationOut(self.org).data)


class MemberViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrgScopedViewSet):
    required_scopes = {"list": Scope.MEMBERS_READ, "retrieve": Scope.MEMBERS_READ}
    serializer_class = s.MembershipOut
    base_queryset = Membership.objects.select_related("user")


class AuditEventViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, OrgScopedViewSet
):
    required_scopes = {"list": Scope.AUDIT_READ, "retrieve": Scope.AUDIT_READ}
    serializer_class = s.AuditEventOut
    base_queryset = AuditEvent.objects.all()


class AuditorGrantViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, OrgScopedViewSet
):
    required_scopes = {
        "list": Scope.AUDITORS_READ,
        "retrieve": Scope.AUDITORS_READ,
        "create": Scope.AUDITORS_WRITE,
        "revoke": Scope.AUDITORS_WRITE,
    }
    serializer_class = s.AuditorGrantOut
    base_queryset = AuditorGrant.objects.all()

    @extend_schema(request=s.AuditorGrantIn, responses={201: s.AuditorGrantOut})
    def create(self, request, format=None):
        data = s.AuditorGrantIn(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            grant = org_services.auditor_grant_create(
                org=self.org, actor=request.user, request=request, **data.validated_data
            )
        except DjangoValidationError as exc:
            # No seats left is a refusal without a field: non_field_errors.
            raise api_validation_error(exc) from exc
        return Response(s.AuditorGrantOut(grant).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=s.AuditorGrantOut)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None, format=None):
        grant = self.get_object()
        try:
            org_services.auditor_grant_revoke(
                grant=grant, actor=request.user, request=request
            )
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"detail": exc.messages}) from exc
        return Response(s.AuditorGrantOut(grant).data)


class ApiTokenViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, OrgScopedViewSet
):
    required_scopes = {"list": Scope.TOKENS_READ, "retrieve": Scope.TOKENS_READ}
    serializer_class = s.ApiTokenOut
    base_queryset = ApiToken.objects.select_related("created_by")
