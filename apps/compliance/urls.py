from django.urls import path

from . import views

app_name = "compliance"

urlpatterns = [
    path("controls/", views.ControlMapView.as_view(), name="controls"),
]
