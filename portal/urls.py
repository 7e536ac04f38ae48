from django.contrib import admin
from django.urls import include, path

from apps.accounts.views import SsoLoginView
from apps.audit.views import StaffAuditLogView
from apps.billing import views as billing_views
from apps.catalog import staff_signers
from apps.catalog.staff import BuildRegisterView
from apps.core import metrics as core_metrics
from apps.core import views as core_views
from apps.entitlements import views as entitlement_views
from apps.evidence.views import EvidenceUploadView
from apps.orgs import views as org_views
from apps.reports import urls as report_urls
from apps.vulns import staff_views as vex_staff_views

org_patterns = [
    path("", include("apps.orgs.urls")),
    path("", include("apps.accounts.urls")),
    path("", include("apps.orgs.audit_urls")),
    path("", include("apps.entitlements.urls")),
    path("", include("apps.customizations.urls")),
    path("", include("apps.billing.urls")),
    path("", include("apps.notifications.urls")),
    path("", include("apps.sla.urls")),
    path("", include("apps.fips.urls")),
    path("", include("apps.reports.urls")),
    path("", include("apps.registry.org_urls")),
]

urlpatterns = [
    path("", org_views.HomeView.as_view(), name="home"),
    path("healthz", core_views.healthz, name="healthz"),
    path("readyz", core_views.readyz, name="readyz"),
    path("metrics", core_metrics.metrics_view, name="metrics"),
    path("catalog/digest/<str:digest>/stig/", include("apps.stig.urls")),
    path("catalog/digest/<str:digest>/", include("apps.stig.checklist_urls")),
    path("catalog/", include("apps.public.urls")),
    path("compliance/", include("apps.compliance.urls")),
    path("reports/verify/", include("apps.reports.verify_urls")),
    path("", include("apps.registry.urls")),
    path("orgs/", org_views.OrgListView.as_view(), name="org_list"),
    path("o/<slug:org_slug>/", include(org_patterns)),
    path(
        "invitations/<str:token>/",
        org_views.InvitationAcceptView.as_view(),
        name="invitation_accept",
    ),
    path("auditor/", org_views.AuditorHomeView.as_view(), name="auditor_home"),
    path("staff/audit/", StaffAuditLogView.as_view(), name="staff_audit"),
    path("staff/evidence/", EvidenceUploadView.as_view(), name="staff_evidence"),
    path("staff/builds/", BuildRegisterView.as_view(), name="staff_build_register"),
    path(
        "staff/signers/",
        staff_signers.SignerListView.as_view(),
        name="staff_signers",
    ),
    path(
        "staff/signers/rotate/",
        staff_signers.SignerRotateView.as_view(),
        name="staff_signer_rotate",
    ),
    path(
        "staff/signers/revoke/",
        staff_signers.SignerRevokeView.as_view(),
        name="staff_signer_revoke",
    ),
    path(
        "staff/vex/",
        vex_staff_views.VexDocumentListView.as_view(),
        name="staff_vex_documents",
    ),
    path(
        "staff/vex/<int:pk>/",
        vex_staff_views.VexDocumentDetailView.as_view(),
        name="staff_vex_document",
    ),
    path(
        "staff/vex/<int:pk>/withdraw/",
        vex_staff_views.VexDocumentWithdrawView.as_view(),
        name="staff_vex_withdraw",
    ),
    path(
        "staff/entitlements/",
        entitlement_views.StaffEntitlementsView.as_view(),
        name="staff_entitlements",
    ),
    path(
        "staff/entitlements/<int:pk>/end/",
        entitlement_views.StaffEntitlementEndView.as_view(),
        name="staff_entitlement_end",
    ),
    path("staff/sla/", include("apps.sla.staff_urls")),
    path("staff/cra/", include("apps.cra.urls")),
    path("staff/reports/", include(report_urls.staff_urlpatterns)),
    path("pricing/", billing_views.PricingView.as_view(), name="pricing"),
    path(
        "billing/stripe/webhook/",
        billing_views.StripeWebhookView.as_view(),
        name="stripe_webhook",
    ),
    path(
        "staff/billing/events/",
        billing_views.StaffBillingEventsView.as_view(),
        name="staff_billing_events",
    ),
    path(
        "staff/billing/events/<int:pk>/retry/",
        billing_views.StaffBillingEventRetryView.as_view(),
        name="staff_billing_event_retry",
    ),
    path("sso/", SsoLoginView.as_view(), name="sso_login"),
    path("accounts/", include("allauth.urls")),
    path("api/v1/", include("apps.api.urls")),
    path("admin/", admin.site.urls),
]

handler404 = "apps.core.views.page_not_found"
