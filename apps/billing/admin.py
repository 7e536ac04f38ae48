"""Plans and prices are loaded by migration and mapped to Stripe ids; the admin
shows them read-only so the tiers change in review, not by hand."""

from django.contrib import admin

from apps.core.mixins import ReadOnlyAdminMixin

from .models import Plan, PlanFeature, Price


class PriceInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Price
    extra = 0


class PlanFeatureInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = PlanFeature
    extra = 0


@admin.register(Plan)
class PlanAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["key", "name", "is_addon", "stripe_product_id"]
    inlines = [PriceInline, PlanFeatureInline]
