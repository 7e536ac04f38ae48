from django.urls import path

from . import views

app_name = "orgs"

urlpatterns = [
    path("", views.DashboardView.as_view(), name="dashboard"),
    path("evidence/", views.EvidenceView.as_view(), name="evidence"),
    path("members/", views.MembersView.as_view(), name="members"),
    path("members/<int:pk>/role/", views.MemberRoleView.as_view(), name="member_role"),
    path(
        "members/<int:pk>/remove/",
        views.MemberRemoveView.as_view(),
        name="member_remove",
    ),
    path(
        "invitations/<int:pk>/revoke/",
        views.InvitationRevokeView.as_view(),
        name="invitation_revoke",
    ),
    path("leave/", views.LeaveView.as_view(), name="leave"),
    path("transfer/", views.TransferView.as_view(), name="transfer"),
    path("settings/", views.SettingsView.as_view(), name="settings"),
    path("auditors/", views.AuditorsView.as_view(), name="auditors"),
    path(
        "auditors/<int:pk>/revoke/",
        views.AuditorRevokeView.as_view(),
        name="auditor_revoke",
    ),
]
