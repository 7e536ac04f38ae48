"""Customizations are written by services only (audit-logged); the admin is
for looking."""

from django.contrib import admin

from apps.core.mixins import ReadOnlyAdminMixin

from .models import Customization


@admin.register(Customization)
class CustomizationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["name", "org", "repository", "created_at", "archived_at"]
    search_fields = ["org__slug", "name"]
