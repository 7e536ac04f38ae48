from django.urls import path

from . import views

app_name = "stig"

# Mounted under /catalog/digest/<digest>/stig/ (portal/urls.py).
urlpatterns = [
    path("diff/", views.DigestStigDiffView.as_view(), name="diff"),
]
