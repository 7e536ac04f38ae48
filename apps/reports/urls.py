from django.urls import path

from . import fedramp_views, views

app_name = "reports"

urlpatterns = [
    path("reports/", views.ReportListView.as_view(), name="list"),
    *(
        path(
            f"reports/fedramp/{kind}.json",
            fedramp_views.FedrampDocumentView.as_view(kind=kind),
            name=f"fedramp_{kind}",
        )
        for kind in fedramp_views.KINDS
    ),
    path("reports/<uuid:public_id>/", views.ReportDetailView.as_view(), name="detail"),
    path(
        "reports/<uuid:public_id>/progress/",
        views.ReportProgressView.as_view(),
        name="progress",
    ),
    path(
        "reports/<uuid:public_id>/download/",
        views.ReportDownloadView.as_view(),
        name="download",
    ),
    *(
        path(
            f"reports/<uuid:public_id>/fedramp/{kind}.json",
            fedramp_views.ReportFedrampDownloadView.as_view(kind=kind),
            name=f"fedramp_part_{kind}",
        )
        for kind in fedramp_views.KINDS
    ),
]

# Mounted at /staff/reports/ (portal/urls.py): every customer's reports.
staff_urlpatterns = [
    path("", views.StaffReportListView.as_view(), name="staff_reports"),
    path(
        "<uuid:public_id>/",
        views.StaffReportDetailView.as_view(),
        name="staff_report_detail",
    ),
    path(
        "<uuid:public_id>/progress/",
        views.StaffReportProgressView.as_view(),
        name="staff_report_progress",
    ),
    path(
        "<uuid:public_id>/download/",
        views.StaffReportDownloadView.as_view(),
        name="staff_report_download",
    ),
]
