"""The registry pull log of the token's organization (``registry:read``)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers

from apps.accounts.models import ApiToken
from apps.registry.models import PullLogEntry
from apps.registry.selectors import pull_log_list

from .base import OrgScopedViewSet


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
