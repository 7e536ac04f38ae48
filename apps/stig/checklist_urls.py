from django.urls import path

from . import checklist_views

app_name = "stig_checklist"

# Mounted under /catalog/digest/<digest>/ (portal/urls.py), beside the page.
urlpatterns = [
    path(
        "stig.ckl",
        checklist_views.ChecklistDownloadView.as_view(fmt="ckl"),
        name="ckl",
    ),
    path(
        "stig.cklb",
        checklist_views.ChecklistDownloadView.as_view(fmt="cklb"),
        name="cklb",
    ),
]
