from django.urls import path

from . import views

app_name = "registry"

urlpatterns = [
    path("v2/token", views.token, name="token"),
    path("registry/notifications", views.notifications, name="notifications"),
    path(".well-known/registry-jwks.json", views.jwks_view, name="jwks"),
]
