"""Waivers awaiting a second pair of eyes, and their decisions."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views import View
from django.views.generic import TemplateView

from apps.core.mixins import StaffOnlyMixin

from .. import services
from ..models import SlaWaiver
from ..selectors.desk import sla_waivers_pending
from ..staff_forms import WaiverRejectForm


class WaiversView(StaffOnlyMixin, TemplateView):
    template_name = "sla/staff_waivers.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["waivers"] = sla_waivers_pending()
        context["reject_form"] = WaiverRejectForm()
        context["now"] = timezone.now()
        return context


class _WaiverDecisionView(StaffOnlyMixin, View):
    success = ""

    def decide(self, waiver: SlaWaiver) -> None:
        raise NotImplementedError

    def post(self, request, pk):
        waiver = get_object_or_404(SlaWaiver, pk=pk)
        try:
            self.decide(waiver)
        except ValidationError as exc:
            messages.error(request, f"Waiver {pk}: {' '.join(exc.messages)}")
        else:
            messages.success(request, f"Waiver {pk} {self.success}.")
        return redirect("staff_sla_waivers")


class WaiverApproveView(_WaiverDecisionView):
    success = "approved: the clock is exempt until it expires"

    def decide(self, waiver: SlaWaiver) -> None:
        services.sla_waiver_approve(waiver=waiver, actor=self.request.user)


class WaiverRejectView(_WaiverDecisionView):
    success = "rejected: the clock runs on"

    def decide(self, waiver: SlaWaiver) -> None:
        form = WaiverRejectForm(self.request.POST)
        reason = form.cleaned_data["reason"] if form.is_valid() else ""
        services.sla_waiver_reject(
            waiver=waiver, actor=self.request.user, reason=reason
        )
