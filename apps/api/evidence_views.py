"""Staff-only ingestion: the API side of the evidence door (apps.evidence.ingest)."""

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import ApiToken
from apps.evidence.ingest import SIGNATURE_MAX_BYTES, EvidenceKind, evidence_import

from .parsers import GuardedMultiPartParser


class CatalogWriter(permissions.BasePermission):
    """A token with the catalog:write scope, created by publisher staff."""

    message = "Loading evidence needs a publisher staff token with catalog:write."

    def has_permission(self, request, view):
        token = request.auth
        return (
            isinstance(token, ApiToken)
            and token.has_scope(ApiToken.Scope.CATALOG_WRITE)
            and token.created_by.is_staff
        )


class EvidenceIn(serializers.Serializer):
    kind = serializers.ChoiceField(choices=EvidenceKind.choices)
    digest = serializers.CharField(required=False, allow_blank=True, max_length=71)
    document = serializers.FileField()
    subject_override_reason = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=2000,
        trim_whitespace=False,
        help_text="Attach a document whose own subject is another image: why. "
        "Publisher staff only; a blank reason is refused. Kept with the document "
        "and in the audit log.",
    )

    signature = serializers.FileField(
        required=False,
        help_text="A detached signature of the document: a Sigstore bundle, or a "
        "DSSE envelope whose in-toto statement names the document's SHA-256. "
        "Without one, the document's own signature (a DSSE envelope or Sigstore "
        "bundle) is checked. The verdict is in the answer.",
    )

    def validate_signature(self, value):
        limit = SIGNATURE_MAX_BYTES
        if value.size > limit:
            raise serializers.ValidationError(
                f"The signature file is {value.size} bytes; the limit is {limit}."
            )
        return value

    def validate_document(self, value):
        limit = settings.EVIDENCE_MAX_BYTES
        if value.size > limit:
            raise serializers.ValidationError(
                f"The file is {value.size} bytes; the limit is {limit}."
            )
        return value


class EvidenceImportView(APIView):
    permission_classes = [CatalogWriter]
    parser_classes = [GuardedMultiPartParser]

    @extend_schema(
        request={"multipart/form-data": EvidenceIn},
        responses={
            201: inline_serializer(
                "EvidenceImported", {"kind": serializers.CharField()}
            )
        },
        summary="Load an SBOM, provenance, STIG scan, FIPS attestation, VEX, OSV "
        "advisories or the KEV catalog",
    )
    def post(self, request, format=None):
        data = EvidenceIn(data=request.data)
        data.is_valid(raise_exception=True)
        signature = data.validated_data.get("signature")
        try:
            summary = evidence_import(
                kind=data.validated_data["kind"],
                content=data.validated_data["document"].read(),
                digest=data.validated_data.get("digest", ""),
                actor=request.user,
                request=request,
                subject_override_reason=data.validated_data.get(
                    "subject_override_reason"
                ),
                signature=signature.read() if signature is not None else None,
            )
        except DjangoValidationError as exc:
            detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
            raise serializers.ValidationError(detail) from exc
        return Response(summary, status=status.HTTP_201_CREATED)
