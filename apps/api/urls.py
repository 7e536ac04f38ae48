from django.urls import path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.permissions import AllowAny
from rest_framework.routers import DefaultRouter

from . import views

app_name = "api"

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("org", views.OrganizationViewSet, basename="org")
router.register("members", views.MemberViewSet, basename="member")
router.register("audit-events", views.AuditEventViewSet, basename="auditevent")
router.register("auditor-grants", views.AuditorGrantViewSet, basename="auditorgrant")
router.register("tokens", views.ApiTokenViewSet, basename="token")

urlpatterns = [
    path(
        "schema/",
        SpectacularAPIView.as_view(
            authentication_classes=[], permission_classes=[AllowAny]
        ),
        name="schema",
    ),
    *router.urls,
]
