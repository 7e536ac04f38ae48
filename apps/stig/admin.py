"""STIG scans in the admin: for looking. Scans are written by the import door
(staff upload, API) only, with the document as their attestation; an admin
edit would break the link between the rows and the stored document."""

from django.contrib import admin

from apps.core.mixins import ReadOnlyAdminMixin

from .models import StigRuleResult, StigScan


@admin.register(StigScan)
class StigScanAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "digest",
        "benchmark_id",
        "benchmark_version",
        "profile_id",
        "source_format",
        "score",
        "rule_count",
        "finished_at",
    ]
    list_filter = ["source_format", "benchmark_id"]
    list_select_related = ["digest__variant__series__repository"]
    search_fields = ["digest__digest", "benchmark_id", "profile_id", "target"]
    readonly_fields = [f.name for f in StigScan._meta.fields]


@admin.register(StigRuleResult)
class StigRuleResultAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["rule_id", "vuln_id", "stig_id", "cat", "result", "scan"]
    list_filter = ["result", "cat"]
    list_select_related = ["scan"]
    search_fields = ["rule_id", "vuln_id", "stig_id", "title"]
    readonly_fields = [f.name for f in StigRuleResult._meta.fields]
