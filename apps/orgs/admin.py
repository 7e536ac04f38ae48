from django.contrib import admin

from .models import AuditorGrant, Invitation, Membership, Organization


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "require_mfa", "created_at"]
    search_fields = ["name", "slug"]
    inlines = [MembershipInline]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["email", "org", "role", "created_at", "expires_at", "accepted_at"]
    list_select_related = ["org"]
    exclude = ["token_hash"]
    readonly_fields = ["invited_by", "accepted_by"]


@admin.register(AuditorGrant)
class AuditorGrantAdmin(admin.ModelAdmin):
    list_display = ["email", "org", "window_start", "window_end", "access_expires_at"]
    list_select_related = ["org"]
    readonly_fields = ["created_by"]
