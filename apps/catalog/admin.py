"""Staff manage the catalog here: repositories, their series and variants.

Builds, tags, evidence and findings arrive through the import services and
commands, so their pages are for looking, not editing: a digest keeps its
identity, a tag's history is never rewritten, a stored document is exactly
what was imported. (Components, advisories, findings and VEX are in
apps/vulns/admin.py.)
"""

from django.contrib import admin
from django.db.models import Count
from django.utils.html import format_html, format_html_join

from apps.core.mixins import ReadOnlyAdminMixin

from .generation import catalog_changed
from .models import Attestation, ImageDigest, Repository, Series, TagEvent, Variant


class CatalogChangesMixin:
    """Edits here bypass the services, so they mark the catalog changed too
    (cached API answers are keyed by its generation)."""

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        catalog_changed()

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        catalog_changed()

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        catalog_changed()

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        catalog_changed()


class SeriesInline(admin.TabularInline):
    model = Series
    extra = 0
    fields = ["name", "upstream_ga", "upstream_eol", "support_end", "els_end"]
    show_change_link = True


@admin.register(Repository)
class RepositoryAdmin(CatalogChangesMixin, admin.ModelAdmin):
    list_display = [
        "name",
        "display_name",
        "category",
        "series_count",
        "is_generated",
        "created_at",
    ]
    list_filter = ["category", "is_generated"]
    search_fields = ["name", "display_name", "description"]
    inlines = [SeriesInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(series_count=Count("series"))

    @admin.display(description="series", ordering="series_count")
    def series_count(self, obj):
        return obj.series_count


class VariantInline(admin.TabularInline):
    model = Variant
    extra = 0
    fields = ["flavor", "fips", "stig"]


@admin.register(Series)
class SeriesAdmin(CatalogChangesMixin, admin.ModelAdmin):
    list_display = [
        "__str__",
        "upstream_ga",
        "upstream_eol",
        "support_end",
        "els_end",
        "status_today",
    ]
    list_filter = ["repository__category"]
    list_select_related = ["repository"]
    search_fields = ["repository__name", "name"]
    autocomplete_fields = ["repository"]
    date_hierarchy = "support_end"
    inlines = [VariantInline]

    @admin.display(description="status today")
    def status_today(self, obj):
        return Series.Status(obj.status).label


class TagEventInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = TagEvent
    extra = 0
    fields = ["tag", "assigned_at", "removed_at", "removal_reason"]
    readonly_fields = fields
    ordering = ["-assigned_at"]


class AttestationInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Attestation
    extra = 0
    fields = ["kind", "media_type", "spec_version", "size", "signature_status"]
    readonly_fields = fields
    show_change_link = True


@admin.register(ImageDigest)
class ImageDigestAdmin(admin.ModelAdmin):
    list_display = ["digest", "variant", "built_at", "architectures"]
    list_filter = [
        "variant__flavor",
        "variant__fips",
        "variant__stig",
        "variant__series__repository__category",
        "built_at",
    ]
    list_select_related = ["variant__series__repository"]
    search_fields = ["digest", "variant__series__repository__name"]
    date_hierarchy = "built_at"
    readonly_fields = ["digest", "variant", "built_at", "created_at"]
    fields = ["digest", "variant", "architectures", "built_at", "created_at"]
    inlines = [TagEventInline, AttestationInline]

    def has_add_permission(self, request):
        # A build is registered with its tags by digest_register (import
        # commands, the API), which records the tag history too.
        return False

    def get_search_results(self, request, queryset, search_term):
        # "sha256:abc…" and a bare hex prefix both find the build.
        term = search_term.strip().lower().removeprefix("sha256:")
        return super().get_search_results(request, queryset, term)


@admin.register(Attestation)
class AttestationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "kind",
        "digest",
        "media_type",
        "size",
        "signature_status",
        "subject_status",
        "schema_warnings",
        "created_at",
    ]
    list_filter = ["kind", "signature_status", "subject_status"]
    list_select_related = ["digest__variant__series__repository"]
    search_fields = ["sha256", "digest__digest", "signer_key_id"]
    exclude = ["warnings"]
    readonly_fields = ["schema_warning_list"]

    @admin.display(description="Schema warnings")
    def schema_warnings(self, obj: Attestation) -> int:
        return len(obj.warnings)

    @admin.display(description="Schema warnings")
    def schema_warning_list(self, obj: Attestation) -> str:
        """Where the document departs from its schema in fields the portal
        does not read, one line each."""
        if not obj.warnings:
            return "None"
        return format_html_join(
            format_html("<br>"), "{}", ((w["message"],) for w in obj.warnings)
        )
