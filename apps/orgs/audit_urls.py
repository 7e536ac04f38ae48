from django.urls import path

from . import audit_views

# The namespace stays "audit": pages and emails link to audit:org_log.
app_name = "audit"

urlpatterns = [
    path("audit/", audit_views.OrgAuditLogView.as_view(), name="org_log"),
]
