"""Publisher staff set a customer's FedRAMP CR26 inputs for it: its class,
a mirrored repository's IRV and PAIN, a clock's evaluation. The same
services as the customer's pages, marked as staff's and audited."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.views import View

from apps.core.forms import apply_validation_error
from apps.core.mixins import StaffOnlyMixin
from apps.entitlements.models import Mirror
from apps.orgs.models import Organization

from ..fedramp_context import exposure_form
from ..fedramp_forms import FedrampClockEvaluationForm, FedrampProfileForm
from ..services import fedramp as services
from ..staff_forms import WaiverRequestForm, WindowForm
from .customers import ClockView, OrgView


def _org_page(request, customer: Organization, **fedramp):
    page = OrgView()
    page.setup(request, slug=customer.slug)
    page.customer = customer
    response = page._render(WindowForm({}), page._assign_form(), **fedramp)
    response.status_code = 400
    return response


class StaffFedrampProfileView(StaffOnlyMixin, View):
    def post(self, request, slug):
        customer = get_object_or_404(Organization, slug=slug)
        form = FedrampProfileForm(request.POST)
        if form.is_valid():
            try:
                services.fedramp_profile_set(
                    org=customer,
                    actor=request.user,
                    as_staff=True,
                    request=request,
                    **form.cleaned_data,
                )
            except ValidationError as exc:
                apply_validation_error(form, exc)
            else:
                messages.success(request, f"{customer.name}: FedRAMP class saved.")
                return redirect("staff_sla_org", slug=customer.slug)
        return _org_page(request, customer, profile_form=form)


class StaffFedrampExposureView(StaffOnlyMixin, View):
    def post(self, request, slug, pk):
        customer = get_object_or_404(Organization, slug=slug)
        mirror = get_object_or_404(
            Mirror.objects.for_org(customer).select_related("repository"), pk=pk
        )
        form = exposure_form(mirror, None, request.POST)
        if form.is_valid():
            try:
                services.fedramp_exposure_set(
                    org=customer,
                    repository=mirror.repository,
                    actor=request.user,
                    as_staff=True,
                    request=request,
                    **form.cleaned_data,
                )
            except ValidationError as exc:
                apply_validation_error(form, exc)
            else:
                messages.success(
                    request, f"{mirror.repository.name}: IRV and PAIN saved."
                )
                return redirect("staff_sla_org", slug=customer.slug)
        return _org_page(request, customer, failed_exposure=(mirror.pk, form))


class StaffClockEvaluateView(StaffOnlyMixin, View):
    def post(self, request, pk):
        page = ClockView()
        page.setup(request, pk=pk)
        page._load(pk)
        form = FedrampClockEvaluationForm(request.POST)
        if form.is_valid():
            try:
                services.fedramp_clock_evaluate(
                    clock=page.clock,
                    actor=request.user,
                    as_staff=True,
                    request=request,
                    **form.cleaned_data,
                )
            except ValidationError as exc:
                apply_validation_error(form, exc)
            else:
                messages.success(request, "Evaluation saved.")
                return redirect("staff_sla_clock", pk=pk)
        response = page._render(WaiverRequestForm(), evaluation_form=form)
        response.status_code = 400
        return response
