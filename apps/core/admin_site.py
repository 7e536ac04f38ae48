"""The admin site, for publisher staff with a second factor only.

Django's admin lets in any active ``is_staff`` account. Staff can grant
entitlements and read every customer's data there, so here it also needs a
second factor: staff without one are sent to set it up, as on the staff
pages (apps.core.mixins.StaffOnlyMixin).
"""

from __future__ import annotations

from functools import update_wrapper

from django.contrib.admin import AdminSite

from .mixins import staff_in_standing, staff_mfa_redirect, user_has_mfa


class PortalAdminSite(AdminSite):
    def has_permission(self, request) -> bool:
        return staff_in_standing(request.user)

    def admin_view(self, view, cacheable=False):
        inner = super().admin_view(view, cacheable)

        def guarded(request, *args, **kwargs):
            user = request.user
            if user.is_authenticated and user.is_staff and not user_has_mfa(user):
                return staff_mfa_redirect(request)
            return inner(request, *args, **kwargs)

        return update_wrapper(guarded, inner)
