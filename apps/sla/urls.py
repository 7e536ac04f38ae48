from django.urls import path

from . import views

app_name = "sla"

urlpatterns = [
    path("sla/", views.ClockListView.as_view(), name="clocks"),
    path("sla/clocks.csv", views.ClockExportView.as_view(), name="export"),
    path("sla/clocks/<int:pk>/", views.ClockDetailView.as_view(), name="clock_detail"),
]
