from rest_framework import serializers

from apps.accounts.models import ApiToken
from apps.audit.models import AuditEvent
from apps.orgs.models import AuditorGrant, Membership, Organization


class OrganizationOut(serializers.ModelSerializer):
    class Meta:
        model = Organization
        fields = ["id", "name", "slug", "require_mfa", "created_at"]


class MembershipOut(serializers.ModelSerializer):
    email = serializers.EmailField(source="user.email")

    class Meta:
        model = Membership
        fields = ["id", "email", "role", "created_at"]


class AuditEventOut(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "created_at",
            "actor_email",
            "action",
            "target_type",
            "target_id",
            "target_repr",
            "ip",
            "user_agent",
            "details",
            "prev_hash",
            "hash",
        ]


class AuditorGrantOut(serializers.ModelSerializer):
    status = serializers.CharField(read_only=True)

    class Meta:
        model = AuditorGrant
        fields = [
            "id",
            "email",
            "window_start",
            "window_end",
            "access_expires_at",
            "created_at",
            "revoked_at",
            "status",
        ]


class AuditorGrantIn(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    window_start = serializers.DateField()
    window_end = serializers.DateField()
    access_expires_at = serializers.DateTimeField()


class ApiTokenOut(serializers.ModelSerializer):
    created_by = serializers.EmailField(source="created_by.email")

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "prefix",
            "scopes",
            "created_by",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked_at",
        ]
