from django.urls import path

from . import org_views

app_name = "registry_log"

urlpatterns = [
    path("registry/", org_views.RegistryView.as_view(), name="overview"),
]
