from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from .models import ApiToken, OrgSsoConnection, User
from .services import org_sso_verify_domains


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = [
        "email",
        "first_name",
        "last_name",
        "is_staff",
        "is_active",
        "last_login",
    ]
    search_fields = ["email", "first_name", "last_name"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Personal", {"fields": ["first_name", "last_name"]}),
        (
            "Permissions",
            {"fields": ["is_active", "is_staff", "is_superuser", "groups"]},
        ),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]}),
    ]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "org", "prefix", "created_by", "created_at", "revoked_at"]
    list_select_related = ["org", "created_by"]
    readonly_fields = [f.name for f in ApiToken._meta.fields]
    search_fields = ["name", "prefix", "org__name"]

    def has_add_permission(self, request):
        return False


@admin.register(OrgSsoConnection)
class OrgSsoConnectionAdmin(admin.ModelAdmin):
    list_display = ["org", "email_domains", "verified_domains", "enabled", "updated_at"]
    list_select_related = ["org"]
    readonly_fields = ["org", "social_app", "email_domains", "verified_domains"]
    actions = ["verify_claimed_domains"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Verify every claimed domain (ownership checked)")
    def verify_claimed_domains(self, request, queryset):
        for connection in queryset.select_related("org"):
            if connection.pending_domains:
                org_sso_verify_domains(
                    connection=connection,
                    domains=connection.pending_domains,
                    actor=request.user,
                    request=request,
                )
        self.message_user(request, "Claimed domains verified.")
