"""An organization's customizations over the API (org-scoped token)."""

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.accounts.models import ApiToken
from apps.catalog.models import Repository
from apps.customizations import services
from apps.customizations.models import Customization

from .base import OrgScopedViewSet
from .errors import api_validation_error

Scope = ApiToken.Scope


class CustomizationOut(serializers.ModelSerializer):
    repository = serializers.CharField(source="repository.name", read_only=True)
    created_by = serializers.EmailField(source="created_by.email", read_only=True)

    class Meta:
        model = Customization
        fields = [
            "id",
            "name",
            "repository",
            "description",
            "extra_packages",
            "environment",
            "created_by",
            "created_at",
            "updated_at",
            "archived_at",
        ]


class CustomizationUpdateIn(serializers.Serializer):
    name = serializers.CharField(max_length=63, required=False)
    description = serializers.CharField(
        max_length=2000, required=False, allow_blank=True
    )
    extra_packages = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False
    )
    environment = serializers.DictField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False),
        required=False,
    )


class CustomizationIn(CustomizationUpdateIn):
    name = serializers.CharField(max_length=63)
    repository = serializers.SlugRelatedField(
        slug_field="name", queryset=Repository.objects.all()
    )


class CustomizationViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, OrgScopedViewSet
):
    """Recipes for custom images on mirrored repositories; counted by the plan."""

    required_scopes = {
        "list": Scope.CUSTOMIZATIONS_READ,
        "retrieve": Scope.CUSTOMIZATIONS_READ,
        "create": Scope.CUSTOMIZATIONS_WRITE,
        "partial_update": Scope.CUSTOMIZATIONS_WRITE,
        "archive": Scope.CUSTOMIZATIONS_WRITE,
    }
    serializer_class = CustomizationOut
    base_queryset = Customization.objects.active().select_related(
        "repository", "created_by"
    )

    @extend_schema(request=CustomizationIn, responses={201: CustomizationOut})
    def create(self, request, format=None):
        data = CustomizationIn(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            customization = services.customization_create(
                org=self.org, actor=request.user, request=request, **data.validated_data
            )
        except DjangoValidationError as exc:
            raise api_validation_error(exc) from exc
        return Response(
            CustomizationOut(customization).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(request=CustomizationUpdateIn, responses=CustomizationOut)
    def partial_update(self, request, pk=None, format=None):
        customization = self.get_object()
        data = CustomizationUpdateIn(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            customization = services.customization_update(
                customization=customization,
                actor=request.user,
                request=request,
                **data.validated_data,
            )
        except DjangoValidationError as exc:
            raise api_validation_error(exc) from exc
        return Response(CustomizationOut(customization).data)

    @extend_schema(request=None, responses=CustomizationOut)
    @action(detail=True, methods=["post"])
    def archive(self, request, pk=None, format=None):
        customization = services.customization_archive(
            customization=self.get_object(), actor=request.user, request=request
        )
        return Response(CustomizationOut(customization).data)
