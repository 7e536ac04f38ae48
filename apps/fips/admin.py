"""The module registry in the admin. Staff may add and edit modules, but the
writes go through the services so each changed field is recorded; change
rows and modules are never deleted here (they are evidence)."""

from django.contrib import admin

from apps.core.mixins import ReadOnlyAdminMixin

from .models import CryptoModule, CryptoModuleChange
from .services import EDITABLE_FIELDS, crypto_module_create, crypto_module_update


class ChangeInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = CryptoModuleChange
    extra = 0
    fields = ["changed_at", "field", "old_value", "new_value", "source", "actor"]
    readonly_fields = fields
    ordering = ["-changed_at", "-pk"]


@admin.register(CryptoModule)
class CryptoModuleAdmin(admin.ModelAdmin):
    list_display = [
        "certificate_number",
        "name",
        "vendor",
        "module_version",
        "standard",
        "status",
        "sunset_date",
        "source",
    ]
    list_filter = ["standard", "status", "source"]
    search_fields = ["certificate_number", "name", "vendor"]
    fields = [*EDITABLE_FIELDS, "source", "updated_at"]
    readonly_fields = ["source", "updated_at"]
    inlines = [ChangeInline]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "security_policy_url":
            kwargs["assume_scheme"] = "https"
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if change:
            data = {name: form.cleaned_data[name] for name in form.changed_data}
            saved = crypto_module_update(module=obj, actor=request.user, **data)
        else:
            data = {name: form.cleaned_data[name] for name in EDITABLE_FIELDS}
            saved = crypto_module_create(actor=request.user, **data)
        # The admin logs and links the object it passed in: make it the saved row.
        for model_field in CryptoModule._meta.concrete_fields:
            setattr(obj, model_field.attname, getattr(saved, model_field.attname))
        obj._state.adding = False
        obj._state.db = saved._state.db

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(CryptoModuleChange)
class CryptoModuleChangeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["changed_at", "module", "field", "old_value", "new_value", "source"]
    list_filter = ["field", "source"]
    list_select_related = ["module"]
    search_fields = ["module__certificate_number", "module__name"]
