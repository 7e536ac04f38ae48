from django.urls import path

from . import views

urlpatterns = [
    path("", views.CraDeskView.as_view(), name="staff_cra"),
    path("open/", views.CraCaseOpenView.as_view(), name="staff_cra_open"),
    path("<int:pk>/", views.CraCaseView.as_view(), name="staff_cra_case"),
    path(
        "<int:pk>/submit/", views.CraSubmissionView.as_view(), name="staff_cra_submit"
    ),
    path("<int:pk>/measure/", views.CraMeasureView.as_view(), name="staff_cra_measure"),
]
