"""Staff-only build registration: the API side of ``catalog.services.build_register``
(the staff page and ``manage.py register_build`` are the other doors)."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.catalog.builds import build_register, built_at_parse
from apps.catalog.models import Repository, Variant

from .evidence_views import CatalogWriter
from .parsers import BoundedJSONParser


class BuildIn(serializers.Serializer):
    repository = serializers.CharField(
        max_length=100, help_text="An existing repository, or a new one's name."
    )
    series = serializers.CharField(max_length=50, help_text="The version line.")
    digest = serializers.CharField(max_length=71, help_text="sha256:<64 hex>")
    built_at = serializers.CharField(
        max_length=40,
        help_text="ISO 8601 with a time zone; a time without one is refused.",
    )
    flavor = serializers.ChoiceField(
        choices=Variant.Flavor.choices, default=Variant.Flavor.RUNTIME
    )
    fips = serializers.BooleanField(default=False)
    stig = serializers.BooleanField(default=False)
    tags = serializers.ListField(
        child=serializers.CharField(max_length=128), default=list, max_length=100
    )
    architectures = serializers.ListField(
        child=serializers.CharField(max_length=20), default=list, max_length=20
    )
    category = serializers.ChoiceField(
        choices=Repository.Category.choices,
        default=Repository.Category.APPLICATION,
        help_text="Only for a new repository.",
    )

    def validate_built_at(self, value):
        try:
            return built_at_parse(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict["built_at"]) from None


class BuildOut(serializers.Serializer):
    digest = serializers.CharField()
    repository = serializers.CharField()
    series = serializers.CharField()
    variant = serializers.CharField()
    built_at = serializers.DateTimeField()
    architectures = serializers.ListField(child=serializers.CharField())
    created = serializers.BooleanField(
        help_text="False: the digest was registered before; only its tags moved."
    )
    tags_moved = serializers.ListField(child=serializers.CharField())
    url = serializers.CharField()


class BuildRegisterView(APIView):
    permission_classes = [CatalogWriter]
    parser_classes = [BoundedJSONParser]

    @extend_schema(
        request=BuildIn,
        responses={201: BuildOut, 200: BuildOut},
        summary="Register a build (201), or move tags to one registered before (200)",
    )
    def post(self, request, format=None):
        data = BuildIn(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            result = build_register(
                repository=values["repository"].strip(),
                series=values["series"].strip(),
                digest=values["digest"],
                built_at=values["built_at"],
                flavor=values["flavor"],
                fips=values["fips"],
                stig=values["stig"],
                tags=values["tags"],
                architectures=values["architectures"],
                category=values["category"],
                actor=request.user,
                request=request,
                via="api",
            )
        except DjangoValidationError as exc:
            detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
            raise serializers.ValidationError(detail) from exc
        image = result.image
        variant = image.variant
        body = BuildOut(
            {
                "digest": image.digest,
                "repository": variant.series.repository.name,
                "series": variant.series.name,
                "variant": str(variant),
                "built_at": image.built_at,
                "architectures": image.architectures,
                "created": result.created,
                "tags_moved": list(result.tags_moved),
                "url": request.build_absolute_uri(
                    reverse("catalog:digest", args=[image.digest])
                ),
            }
        ).data
        return Response(
            body,
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )
