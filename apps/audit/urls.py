from django.urls import path

from . import views

app_name = "audit"

urlpatterns = [
    path("audit/", views.OrgAuditLogView.as_view(), name="org_log"),
]
