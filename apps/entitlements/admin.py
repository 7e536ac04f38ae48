"""Features (loaded by migration), entitlements and mirrors (written by
audit-logged services only): the admin is for looking."""

from django.contrib import admin

from apps.core.mixins import ReadOnlyAdminMixin

from .models import Entitlement, Feature, Mirror


@admin.register(Feature)
class FeatureAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["key", "name", "kind", "stripe_lookup_key"]


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
