"""Web and admin helpers every app shares: the ground floor, importing no app."""

from __future__ import annotations

from django.contrib.auth.mixins import LoginRequiredMixin, UserPassesTestMixin


class StaffOnlyMixin(LoginRequiredMixin, UserPassesTestMixin):
    """Publisher staff pages: signed in and ``is_staff``, else 403."""

    def test_func(self):
        return self.request.user.is_staff


class ReadOnlyAdminMixin:
    """Admin pages for rows written by import services only."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def user_has_mfa(user) -> bool:
    """Whether the person has a second factor (TOTP or a security key)."""
    from allauth.mfa.models import Authenticator

    return Authenticator.objects.filter(
        user=user, type__in=[Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN]
    ).exists()
