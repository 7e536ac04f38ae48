"""Django's admin app with the portal's site (apps/core/admin_site.py): this
module is imported while the app registry loads, so it imports no models."""

from django.contrib.admin.apps import AdminConfig


class PortalAdminConfig(AdminConfig):
    default_site = "apps.core.admin_site.PortalAdminSite"
