"""The SLA ledger in the admin: for looking. Every change goes through the
services (the staff SLA desk), which validate, freeze and audit-log it; an
admin edit would bypass all three. Policy versions not yet used may be looked
at here but are corrected through ``sla_policy_version_update``."""

from django.contrib import admin

from apps.core.mixins import ReadOnlyAdminMixin

from .models import (
    SlaClock,
    SlaPolicy,
    SlaPolicyAssignment,
    SlaPolicyVersion,
    SlaWaiver,
)


class VersionInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = SlaPolicyVersion
    extra = 0
    fields = [
        "version",
        "critical_days",
        "high_days",
        "medium_days",
        "low_days",
        "day_kind",
        "start_event",
        "at_risk_percent",
        "frozen_at",
    ]
    show_change_link = True


@admin.register(SlaPolicy)
class SlaPolicyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["key", "name", "plan", "org", "created_at"]
    list_select_related = ["plan", "org"]
    search_fields = ["key", "name"]
    inlines = [VersionInline]


@admin.register(SlaPolicyVersion)
class SlaPolicyVersionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["__str__", "day_kind", "start_event", "frozen_at", "created_at"]
    list_filter = ["day_kind", "start_event"]
    list_select_related = ["policy"]
    search_fields = ["policy__key", "policy__name"]


@admin.register(SlaPolicyAssignment)
class SlaPolicyAssignmentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["org", "policy", "effective_from", "effective_to", "created_by"]
    list_select_related = ["org", "policy", "created_by"]
    search_fields = ["org__slug", "org__name", "policy__key"]


@admin.register(SlaClock)
class SlaClockAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["pk", "org", "severity", "state", "started_at", "due_at"]
    list_filter = ["state", "severity", "kev_capped"]
    list_select_related = ["org"]
    search_fields = ["org__slug", "finding__vulnerability__vuln_id"]
    raw_id_fields = ["finding", "vex_statement", "waiver"]
    show_full_result_count = False


@admin.register(SlaWaiver)
class SlaWaiverAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["pk", "clock", "state", "requested_by", "expires_at"]
    list_filter = ["state"]
    list_select_related = ["clock", "requested_by"]
    raw_id_fields = ["clock"]
