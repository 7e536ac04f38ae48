"""Entitlements and mirrors are written by services only (audit-logged);
the admin is for looking."""

from django.contrib import admin

from apps.core.mixins import ReadOnlyAdminMixin

from .models import Entitlement, Mirror


@admin.register(Entitlement)
class EntitlementAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "org",
        "feature",
        "repository",
        "quantity",
        "starts_at",
        "ends_at",
        "source",
        "reference",
    ]
    list_filter = ["source", "feature"]
    search_fields = ["org__slug", "reference"]
    list_select_related = ["org", "feature", "repository"]


@admin.register(Mirror)
class MirrorAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["org", "repository", "include_fips", "include_stig", "status"]
    list_filter = ["status"]
    list_select_related = ["org", "repository"]
