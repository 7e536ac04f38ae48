from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from .models import ApiToken, OrgSsoConnection, User


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
    list_display = ["org", "enabled", "updated_at"]
    list_select_related = ["org"]
