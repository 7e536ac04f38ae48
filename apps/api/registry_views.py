"""What the registry decided and saw for the token's organization
(``registry:read``): the pull log and the images it pulled."""

from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers

from apps.accounts.models import ApiToken
from apps.registry.models import PullLogEntry, RegistryEvent
from apps.registry.selectors import images_run_list, pull_log_list

from .base import OrgScopedViewSet
from .pagination import ComputedListPagination


class PullLogEntryOut(serializers.ModelSerializer):
    user_email = serializers.EmailField(source="user.email", default=None)
    token_prefix = serializers.CharField(source="token.prefix", default=None)

    class Meta:
        model = PullLogEntry
        fields = [
            "id",
            "created_at",
            "user_email",
            "token_prefix",
            "repository",
            "requested",
            "granted",
            "reason",
            "ip",
        ]


@extend_schema(
    parameters=[
        OpenApiParameter(
            "denied",
            OpenApiTypes.BOOL,
            description="Only entries granted less than they asked.",
        )
    ]
)
class PullLogViewSet(mixins.ListModelMixin, OrgScopedViewSet):
    required_scopes = {"list": ApiToken.Scope.REGISTRY_READ}
    serializer_class = PullLogEntryOut
    base_queryset = PullLogEntry.objects.all()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return PullLogEntry.objects.none()
        denied = self.request.query_params.get("denied", "").lower()
        return pull_log_list(org=self.org, denied_only=denied in {"1", "true"})


class ImageRunOut(serializers.Serializer):
    repository = serializers.CharField(help_text="The registry path pulled.")
    digest = serializers.CharField()
    catalog_build = serializers.SerializerMethodField(
        help_text="The catalog build with this digest (its variant), or null."
    )
    first_pulled_at = serializers.DateTimeField()
    last_pulled_at = serializers.DateTimeField()
    pulls = serializers.IntegerField()

    def get_catalog_build(self, run) -> str | None:
        return str(run.image.variant) if run.image is not None else None


@extend_schema(
    parameters=[
        OpenApiParameter(
            "since",
            OpenApiTypes.DATETIME,
            description="Only pulls at or after this time.",
        )
    ]
)
class ImagesRunViewSet(mixins.ListModelMixin, OrgScopedViewSet):
    """The digests the token's organization pulled, as the registry reported
    them, most recently pulled first."""

    required_scopes = {"list": ApiToken.Scope.REGISTRY_READ}
    serializer_class = ImageRunOut
    pagination_class = ComputedListPagination
    base_queryset = RegistryEvent.objects.all()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return RegistryEvent.objects.none()
        since = None
        raw = self.request.query_params.get("since", "")
        if raw:
            try:
                since = parse_datetime(raw) if len(raw) <= 64 else None
            except ValueError:
                since = None
            if since is None or since.tzinfo is None:
                raise serializers.ValidationError(
                    {"since": "An ISO 8601 time with a time zone."}
                )
        return images_run_list(org=self.org, start=since)
