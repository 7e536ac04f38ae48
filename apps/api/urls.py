from django.urls import path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.permissions import AllowAny
from rest_framework.routers import DefaultRouter

from . import (
    build_views,
    catalog_views,
    customization_views,
    evidence_views,
    fedramp_views,
    fips_views,
    registry_views,
    report_views,
    sla_views,
    stig_views,
    views,
)

app_name = "api"

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("org", views.OrganizationViewSet, basename="org")
router.register("members", views.MemberViewSet, basename="member")
router.register("audit-events", views.AuditEventViewSet, basename="auditevent")
router.register("auditor-grants", views.AuditorGrantViewSet, basename="auditorgrant")
router.register("tokens", views.ApiTokenViewSet, basename="token")
router.register(
    "customizations",
    customization_views.CustomizationViewSet,
    basename="customization",
)
router.register("sla/clocks", sla_views.SlaClockViewSet, basename="slaclock")
router.register("sla/waivers", sla_views.SlaWaiverViewSet, basename="slawaiver")
router.register("sla/metrics", sla_views.SlaMetricsViewSet, basename="slametrics")
router.register(
    "fedramp/documents",
    fedramp_views.FedrampDocumentViewSet,
    basename="fedrampdocument",
)
router.register(
    "fedramp/profile", fedramp_views.FedrampProfileViewSet, basename="fedrampprofile"
)
router.register(
    "fedramp/exposures",
    fedramp_views.FedrampExposureViewSet,
    basename="fedrampexposure",
)
router.register("fips/modules", fips_views.FipsModuleViewSet, basename="fipsmodule")
router.register("reports", report_views.ReportViewSet, basename="report")
router.register("registry/pulls", registry_views.PullLogViewSet, basename="pulllog")
router.register(
    "registry/images", registry_views.ImagesRunViewSet, basename="imagesrun"
)
# The public catalog: read by anyone, no token needed.
router.register("repositories", catalog_views.RepositoryViewSet, basename="repository")
router.register("series", catalog_views.SeriesViewSet, basename="series")
router.register("digests", catalog_views.DigestViewSet, basename="digest")
router.register("components", catalog_views.ComponentViewSet, basename="component")
router.register(
    "vulnerabilities", catalog_views.VulnerabilityViewSet, basename="vulnerability"
)
router.register("findings", catalog_views.FindingViewSet, basename="finding")
router.register(
    "vex-statements", catalog_views.VexStatementViewSet, basename="vexstatement"
)

urlpatterns = [
    path(
        "schema/",
        SpectacularAPIView.as_view(
            authentication_classes=[], permission_classes=[AllowAny]
        ),
        name="schema",
    ),
    # Publisher staff only: load catalog evidence.
    path(
        "evidence/", evidence_views.EvidenceImportView.as_view(), name="evidence-import"
    ),
    # Publisher staff only: register a build.
    path("builds/", build_views.BuildRegisterView.as_view(), name="build-register"),
    # A STIG build's scans: counts for anyone, rules for entitled tokens.
    path(
        "digests/<str:digest>/stig/",
        stig_views.DigestStigView.as_view(),
        name="digest-stig",
    ),
    *router.urls,
]
