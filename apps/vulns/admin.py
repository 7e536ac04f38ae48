from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from apps.catalog.models import ImageDigest, Repository
from apps.catalog.services import normalize_digest
from apps.core.mixins import ReadOnlyAdminMixin

from .formats.vex_parsed import statement_problems
from .models import (
    AdvisoryRevision,
    Component,
    Finding,
    VexDocument,
    VexStatement,
    Vulnerability,
)
from .services import vex_statement_author

# --------------------------------------------------------------------------
# VEX: documents are imported (import_vex, the API) and read-only here; staff
# author statements, which vex_statement_author files into the repository's
# AUTHORED document. Nothing is edited or deleted: statements are history.
# --------------------------------------------------------------------------


@admin.register(VexDocument)
class VexDocumentAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "format",
        "spec_version",
        "author",
        "issued_at",
        "version",
        "statement_count",
        "superseded_at",
        "withdrawn_at",
    ]
    list_filter = ["format", "spec_version"]
    search_fields = ["document_id", "author", "sha256"]
    date_hierarchy = "issued_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class VexStatementAuthorForm(forms.ModelForm):
    """A statement as staff write it; saved through ``vex_statement_author``."""

    vulnerability_id = forms.CharField(
        label="Vulnerability",
        max_length=100,
        help_text="CVE, GHSA or other advisory id; recorded if not known yet.",
    )
    repository = forms.ModelChoiceField(
        queryset=Repository.objects.all(),
        required=False,
        help_text="The statement covers every build of this repository…",
    )
    image_digest = forms.CharField(
        label="Digest",
        required=False,
        max_length=71,
        help_text="…or only this build (sha256:…). Give one or the other.",
    )

    class Meta:
        model = VexStatement
        fields = [
            "subcomponent",
            "status",
            "justification",
            "impact_statement",
            "action_statement",
            "status_notes",
        ]
        labels = {"subcomponent": "Component purl"}
        help_texts = {
            "subcomponent": "The package inside the image, e.g. "
            "pkg:deb/debian/openssl@3.0.15-1; empty for the whole image.",
            "impact_statement": "Why it is not affected, if no justification fits.",
            "action_statement": "What to do, for an affected statement.",
        }

    def clean(self):
        cleaned = super().clean()
        image = None
        digest = cleaned.get("image_digest", "").strip()
        if digest:
            try:
                digest = normalize_digest(digest)
            except ValidationError as exc:
                self.add_error("image_digest", exc.messages)
            else:
                image = (
                    ImageDigest.objects.select_related("variant__series__repository")
                    .filter(digest=digest)
                    .first()
                )
                if image is None:
                    self.add_error("image_digest", "No build has this digest.")
        cleaned["image"] = image
        repository = cleaned.get("repository")
        if image is not None and repository is not None:
            if repository.pk != image.variant.series.repository_id:
                self.add_error(
                    "image_digest",
                    f"This digest is a build of {image.variant.series.repository}.",
                )
        elif image is None and repository is None and not digest:
            self.add_error(None, "Choose the repository or give the digest.")
        problems = statement_problems(
            vuln_id=cleaned.get("vulnerability_id", ""),
            status=cleaned.get("status", ""),
            justification=cleaned.get("justification", ""),
            impact_statement=cleaned.get("impact_statement", ""),
            action_statement=cleaned.get("action_statement", ""),
            subcomponent=cleaned.get("subcomponent", ""),
        )
        for name, message in problems.items():
            if name in self.fields and name not in self.errors:
                self.add_error(name, message)
        return cleaned

    def _post_clean(self):
        # The service validates and builds the row (document, product purl,
        # timestamp); the model's own checks run on what it writes.
        pass

    def author_kwargs(self) -> dict:
        data = self.cleaned_data
        return {
            "vulnerability_id": data["vulnerability_id"],
            "repository": data.get("repository"),
            "image": data.get("image"),
            "subcomponent": data.get("subcomponent", ""),
            "status": data["status"],
            "justification": data.get("justification", ""),
            "impact_statement": data.get("impact_statement", ""),
            "action_statement": data.get("action_statement", ""),
            "status_notes": data.get("status_notes", ""),
        }


@admin.register(VexStatement)
class VexStatementAdmin(admin.ModelAdmin):
    list_display = [
        "vulnerability",
        "status",
        "justification",
        "product",
        "subcomponent",
        "repository",
        "timestamp",
        "document",
    ]
    list_filter = ["status", "justification", "document__format"]
    list_select_related = ["vulnerability", "repository", "document"]
    search_fields = ["vulnerability__vuln_id", "product", "subcomponent"]
    date_hierarchy = "timestamp"
    raw_id_fields = ["document", "vulnerability", "repository", "digest"]
    add_form = VexStatementAuthorForm
    add_fieldsets = [
        (None, {"fields": ["vulnerability_id", "repository", "image_digest"]}),
        (
            "Statement",
            {
                "fields": [
                    "subcomponent",
                    "status",
                    "justification",
                    "impact_statement",
                    "action_statement",
                    "status_notes",
                ]
            },
        ),
    ]

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return self.add_fieldsets
        return super().get_fieldsets(request, obj)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, change=change, **kwargs)

    def save_model(self, request, obj, form, change):
        statement = vex_statement_author(author=request.user, **form.author_kwargs())
        # The admin logs and links the object it passed in: make it the row the
        # service wrote.
        for model_field in VexStatement._meta.concrete_fields:
            setattr(obj, model_field.attname, getattr(statement, model_field.attname))
        obj._state.adding = False
        obj._state.db = statement._state.db

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --------------------------------------------------------------------------
# Components, advisories and findings arrive from SBOMs, feeds and matching.
# --------------------------------------------------------------------------


@admin.register(Component)
class ComponentAdmin(admin.ModelAdmin):
    list_display = ["name", "version", "type", "distro", "purl"]
    list_filter = ["type"]
    search_fields = ["purl", "name", "source_name"]
    readonly_fields = ["purl", "purl_sha256"]


class AdvisoryRevisionInline(admin.TabularInline):
    """Every version of the record the feeds delivered: what it changed, when
    it came, whether it applied (an older one arriving late does not)."""

    model = AdvisoryRevision
    fk_name = "vulnerability"
    fields = [
        "modified_at",
        "withdrawn_at",
        "applied",
        "changes_text",
        "source",
        "imported_at",
        "advisory_import",
        "sha256",
    ]
    readonly_fields = fields
    ordering = ["-imported_at", "-id"]
    extra = 0
    can_delete = False

    @admin.display(description="Changes")
    def changes_text(self, obj: AdvisoryRevision) -> str:
        return "; ".join(obj.changes)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Vulnerability)
class VulnerabilityAdmin(admin.ModelAdmin):
    list_display = [
        "vuln_id",
        "severity",
        "cvss_v3_score",
        "cvss_v4_score",
        "kev",
        "kev_due_date",
        "disclosed_at",
        "modified_at",
        "withdrawn_at",
    ]
    list_filter = [
        "severity",
        "kev",
        "kev_ransomware",
        ("withdrawn_at", admin.EmptyFieldListFilter),
    ]
    search_fields = ["vuln_id", "aliases", "summary"]
    date_hierarchy = "disclosed_at"
    readonly_fields = ["source_sha256"]
    inlines = [AdvisoryRevisionInline]


@admin.register(Finding)
class FindingAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Findings come from matching; their timestamps are SLA evidence."""

    list_display = [
        "vulnerability",
        "severity",
        "status",
        "component",
        "digest",
        "detected_at",
        "fixed_published_at",
        "withdrawn_at",
    ]
    list_filter = ["status", "severity", "vulnerability__kev"]
    list_select_related = [
        "vulnerability",
        "component",
        "digest__variant__series__repository",
    ]
    search_fields = ["vulnerability__vuln_id", "component__purl", "digest__digest"]
    date_hierarchy = "detected_at"
