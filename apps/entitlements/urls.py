from django.urls import path

from . import views

app_name = "entitlements"

urlpatterns = [
    path("mirrors/", views.MirrorsView.as_view(), name="mirrors"),
    path(
        "mirrors/<int:pk>/remove/",
        views.MirrorRemoveView.as_view(),
        name="mirror_remove",
    ),
    path("entitlements/", views.EntitlementsView.as_view(), name="org_entitlements"),
]
