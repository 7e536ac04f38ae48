"""The organization's crypto-module inventory over the API (org-scoped token,
``evidence:read``): every module in the FIPS builds it mirrors, with the
certificate's status and sunset, and the builds that carry it."""

from __future__ import annotations

from datetime import UTC

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from apps.accounts.models import ApiToken
from apps.entitlements.models import Mirror
from apps.fips import selectors
from apps.fips.models import CryptoModule

from .base import OrgScopedViewSet
from .schema import SingleObjectSchema


class CarrierOut(serializers.Serializer):
    repository = serializers.CharField()
    series = serializers.CharField()
    variant = serializers.CharField()
    builds = serializers.IntegerField()
    newest_digest = serializers.CharField(source="newest.digest")
    newest_built_at = serializers.DateTimeField(source="newest.built_at")


class InventoryRowOut(serializers.Serializer):
    certificate_number = serializers.IntegerField(source="module.certificate_number")
    name = serializers.CharField(source="module.name")
    vendor = serializers.CharField(source="module.vendor")
    module_version = serializers.CharField(source="module.module_version")
    standard = serializers.CharField(source="module.standard")
    status = serializers.ChoiceField(
        source="status.status",
        choices=CryptoModule.Status.choices,
        help_text="On ``as_of``, derived from the dates: historical once the "
        "sunset date has come, whatever the registry row says.",
    )
    status_label = serializers.CharField(source="status.label")
    registry_status = serializers.ChoiceField(
        source="module.status",
        choices=CryptoModule.Status.choices,
        help_text="What the module registry's row says.",
    )
    validation_date = serializers.DateField(source="module.validation_date")
    sunset_date = serializers.DateField(source="module.sunset_date", allow_null=True)
    days_to_sunset = serializers.IntegerField(allow_null=True)
    attention = serializers.SerializerMethodField()
    builds = serializers.IntegerField()
    carried_by = CarrierOut(source="carriers", many=True)

    def get_attention(self, row) -> str:
        """``bad``: lapsed or sunset within 30 days; ``warn``: within 180."""
        return row.tone


class InventoryOut(serializers.Serializer):
    org = serializers.IntegerField()
    as_of = serializers.DateField(help_text="Days to sunset are counted from this day.")
    modules = InventoryRowOut(many=True)


class FipsModuleViewSet(OrgScopedViewSet):
    """Read-only: the registry is the publisher's."""

    required_scopes = {"list": ApiToken.Scope.EVIDENCE_READ}
    base_queryset = Mirror.objects.all()
    pagination_class = None
    # One inventory object, not a list of them.
    schema = SingleObjectSchema()

    @extend_schema(
        responses=InventoryOut,
        summary="The crypto modules in the FIPS builds the organization mirrors",
    )
    def list(self, request, format=None):
        today = timezone.now().astimezone(UTC).date()
        rows = selectors.org_module_inventory(org=self.org, today=today)
        return Response(
            {
                "org": self.org.pk,
                "as_of": today.isoformat(),
                "modules": InventoryRowOut(rows, many=True).data,
            }
        )
