"""Web and admin helpers every app shares: the ground floor, importing no app."""

from __future__ import annotations

from django.contrib.auth.mixins import LoginRequiredMixin, UserPassesTestMixin


class StaffOnlyMixin(LoginRequiredMixin, UserPassesTestMixin):
    """Publisher staff pages: signed in and ``is_staff``, else 403; staff
    without a second factor are sent to set one up first (publisher staff
    grant entitlements and read every customer's data)."""

    def test_func(self):
        return self.request.user.is_staff

    def dispatch(self, request, *args, **kwargs):
        user = request.user
        if user.is_authenticated and user.is_staff and not user_has_mfa(user):
            return staff_mfa_redirect(request)
        return super().dispatch(request, *args, **kwargs)


def staff_in_standing(user) -> bool:
    """Publisher staff powers need ``is_staff`` and a second factor."""
    return bool(
        user is not None
        and user.is_authenticated
        and user.is_active
        and user.is_staff
        and user_has_mfa(user)
    )


def staff_mfa_redirect(request):
    from django.contrib import messages
    from django.shortcuts import redirect

    messages.warning(
        request,
        "Publisher staff pages need two-factor authentication. Set up an "
        "authenticator app to continue.",
    )
    return redirect("mfa_activate_totp")


class ReadOnlyAdminMixin:
    """Admin pages for rows written by import services only."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def user_has_mfa(user) -> bool:
    """Whether the person has a second factor (TOTP or a security key).

    Asked once per user object: a request's pages, guards and evidence rule
    share the answer (the object lives for one request)."""
    from allauth.mfa.models import Authenticator

    cached = getattr(user, "_portal_has_mfa", None)
    if cached is not None:
        return cached
    answer = Authenticator.objects.filter(
        user=user, type__in=[Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN]
    ).exists()
    if getattr(user, "pk", None) is not None:
        user._portal_has_mfa = answer
    return answer
