from django.urls import path

from . import views

app_name = "customizations"

urlpatterns = [
    path("customizations/", views.CustomizationsView.as_view(), name="list"),
    path(
        "customizations/<int:pk>/archive/",
        views.CustomizationArchiveView.as_view(),
        name="archive",
    ),
]
