from django.urls import path

from apps.catalog import views as catalog_views
from apps.evidence.downloads import AttestationDownloadView

from . import vex_views, views

app_name = "catalog"

# Fixed paths come before <slug:name> and win over it, which reserves the name
# "lifecycle": a repository of that name would be shadowed by the calendar.
urlpatterns = [
    path("", views.RepositoryListView.as_view(), name="list"),
    path("lifecycle/", catalog_views.LifecycleView.as_view(), name="lifecycle"),
    path(
        "lifecycle.ics", catalog_views.LifecycleIcsView.as_view(), name="lifecycle_ics"
    ),
    path("digest/<str:digest>/", views.DigestDetailView.as_view(), name="digest"),
    path(
        "digest/<str:digest>/vex/", vex_views.DigestVexView.as_view(), name="digest_vex"
    ),
    path(
        "attestations/<int:pk>/download/",
        AttestationDownloadView.as_view(),
        name="attestation_download",
    ),
    path("<slug:name>/", views.RepositoryDetailView.as_view(), name="repository"),
    path(
        "<slug:name>/vex/", vex_views.RepositoryVexView.as_view(), name="repository_vex"
    ),
]
