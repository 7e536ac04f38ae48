"""The publisher staff's SLA pages, under /staff/sla/."""

from django.urls import path

from .staff_views.credits import CreditsView
from .staff_views.customers import ClockView, OrgView
from .staff_views.desk import CustomersView, DeskView, LedgerCheckView
from .staff_views.fedramp import (
    StaffClockEvaluateView,
    StaffFedrampExposureView,
    StaffFedrampProfileView,
)
from .staff_views.policies import PoliciesView, PolicyView
from .staff_views.waivers import WaiverApproveView, WaiverRejectView, WaiversView

urlpatterns = [
    path("", DeskView.as_view(), name="staff_sla_desk"),
    path("orgs/<slug:slug>/", OrgView.as_view(), name="staff_sla_org"),
    path(
        "orgs/<slug:slug>/fedramp/",
        StaffFedrampProfileView.as_view(),
        name="staff_sla_org_fedramp",
    ),
    path(
        "orgs/<slug:slug>/fedramp/mirrors/<int:pk>/",
        StaffFedrampExposureView.as_view(),
        name="staff_sla_org_exposure",
    ),
    path("clocks/<int:pk>/", ClockView.as_view(), name="staff_sla_clock"),
    path(
        "clocks/<int:pk>/fedramp/",
        StaffClockEvaluateView.as_view(),
        name="staff_sla_clock_evaluate",
    ),
    path("waivers/", WaiversView.as_view(), name="staff_sla_waivers"),
    path(
        "waivers/<int:pk>/approve/",
        WaiverApproveView.as_view(),
        name="staff_sla_waiver_approve",
    ),
    path(
        "waivers/<int:pk>/reject/",
        WaiverRejectView.as_view(),
        name="staff_sla_waiver_reject",
    ),
    path("credits/", CreditsView.as_view(), name="staff_sla_credits"),
    path("customers/", CustomersView.as_view(), name="staff_sla_customers"),
    path("ledger-check/", LedgerCheckView.as_view(), name="staff_sla_ledger_check"),
    path("policies/", PoliciesView.as_view(), name="staff_sla_policies"),
    path("policies/<int:pk>/", PolicyView.as_view(), name="staff_sla_policy"),
]
