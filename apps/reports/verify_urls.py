"""The public report verify page, at /reports/verify/."""

from django.urls import path

from . import verify_views

app_name = "reports_verify"

urlpatterns = [
    path("", verify_views.VerifyFormView.as_view(), name="form"),
    path("<uuid:public_id>/", verify_views.VerifyDetailView.as_view(), name="detail"),
]
