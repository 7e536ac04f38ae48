from django.urls import path

from . import fedramp_views, views

app_name = "sla"

urlpatterns = [
    path("sla/", views.ClockListView.as_view(), name="clocks"),
    path("sla/clocks.csv", views.ClockExportView.as_view(), name="export"),
    path("sla/clocks/<int:pk>/", views.ClockDetailView.as_view(), name="clock_detail"),
    path(
        "sla/clocks/<int:pk>/fedramp/",
        fedramp_views.ClockEvaluateView.as_view(),
        name="clock_evaluate",
    ),
    path("sla/fedramp/", fedramp_views.FedrampView.as_view(), name="fedramp"),
    path(
        "sla/fedramp/mirrors/<int:pk>/",
        fedramp_views.FedrampExposureView.as_view(),
        name="fedramp_exposure",
    ),
]
