from django.urls import path

from . import views

app_name = "fips"

urlpatterns = [
    path("fips/", views.OrgFipsView.as_view(), name="org_fips"),
]
