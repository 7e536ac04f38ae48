"""One customer's SLA: its running clocks, figures, credits, trend and policy
assignments; one clock with its timeline and waivers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Max
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.views.generic import TemplateView

from apps.core.forms import apply_validation_error
from apps.core.mixins import StaffOnlyMixin
from apps.orgs.models import Organization

from .. import services
from ..fedramp_context import cr26_clock_context, fedramp_settings_context
from ..fedramp_forms import FedrampClockEvaluationForm
from ..ledger_checks import ledger_gaps
from ..models import SlaClock, SlaPolicyAssignment, SlaWaiver
from ..overlays import clock_overlays
from ..selectors.clocks import sla_clock_get, sla_clock_timeline, sla_entitlement_state
from ..selectors.credits import sla_credits_owed
from ..selectors.desk import DeskFilters, sla_desk_counts, sla_desk_page
from ..selectors.metrics import sla_metrics, sla_monthly_trend
from ..staff_forms import PolicyAssignForm, WaiverRequestForm, WindowForm, cursor_token
from .presentation import (
    cents_text,
    cursor_from,
    duration_text,
    metrics_rows,
    percent_text,
    trend_chart,
    with_status,
)


class OrgView(StaffOnlyMixin, TemplateView):
    template_name = "sla/staff_org.html"

    def get(self, request, *args, **kwargs):
        self.customer = get_object_or_404(Organization, slug=kwargs["slug"])
        return self._render(WindowForm(request.GET), self._assign_form())

    def post(self, request, *args, **kwargs):
        self.customer = get_object_or_404(Organization, slug=kwargs["slug"])
        form = self._assign_form(request.POST)
        if form.is_valid():
            try:
                assignment = services.sla_policy_assign(
                    org=self.customer, actor=request.user, **form.service_kwargs()
                )
            except ValidationError as exc:
                apply_validation_error(form, exc)
            else:
                messages.success(
                    request, f"Assigned {assignment.policy} to {self.customer.name}."
                )
                return redirect("staff_sla_org", slug=self.customer.slug)
        response = self._render(WindowForm({}), form)
        response.status_code = 400
        return response

    def _assign_form(self, data=None) -> PolicyAssignForm:
        return PolicyAssignForm(data, org=self.customer)

    def _render(
        self,
        window_form: WindowForm,
        assign_form: PolicyAssignForm,
        **fedramp: Any,
    ):
        org, now = self.customer, timezone.now()
        start, end = window_form.window()
        running = DeskFilters(states=tuple(SlaClock.RUNNING), org_id=org.pk)
        after = cursor_from(self.request.GET.get("after", ""))
        page = sla_desk_page(filters=running, after=after)
        more = None
        if page.next_cursor is not None:
            query = self.request.GET.copy()
            query["after"] = cursor_token(page.next_cursor)
            more = query.urlencode()
        credits = sla_credits_owed(org=org, start=start, end=end)
        trend = sla_monthly_trend(org=org, end=now)
        resolution = services.policy_resolution(org=org, at=now)
        context = self.get_context_data(
            customer=org,
            form=window_form,
            assign_form=assign_form,
            clocks=page.clocks,
            more=more,
            counts=sla_desk_counts(filters=running),
            metrics=metrics_rows(sla_metrics(org=org, start=start, end=end)),
            window=(start, end - timedelta(days=1)),
            credits=credits,
            credits_total=cents_text(credits.total_cents),
            credit_lines=[
                {"line": line, "credit": cents_text(line.credit_cents)}
                for line in credits.lines
            ],
            trend=[
                {
                    "month": m.month,
                    "met": m.met,
                    "missed": m.missed,
                    "breached": m.breached,
                    "attainment": percent_text(m.attainment),
                    "mttr": duration_text(m.mttr_median),
                }
                for m in trend
            ],
            chart=trend_chart(trend),
            assignments=self._assignments(org, now),
            in_effect=resolution.version,
            resolution=resolution,
            gaps=ledger_gaps(at=now, orgs=[org]),
            entitlement=sla_entitlement_state(org=org, now=now),
            now=now,
            **fedramp_settings_context(
                org=org,
                can_manage=True,
                profile_action=reverse("staff_sla_org_fedramp", args=[org.slug]),
                exposure_action=lambda m: reverse(
                    "staff_sla_org_exposure", args=[org.slug, m.pk]
                ),
                **fedramp,
            ),
        )
        return with_status(self.render_to_response(context), window_form)

    @staticmethod
    def _assignments(org: Organization, now) -> list[dict[str, Any]]:
        rows = (
            SlaPolicyAssignment.objects.for_org(org)
            .select_related("policy", "created_by")
            .annotate(latest_version=Max("policy__versions__version"))
            .order_by("-effective_from", "-id")
        )
        return [
            {
                "assignment": a,
                "latest_version": a.latest_version,
                "fee": cents_text(a.monthly_fee_cents)
                if a.monthly_fee_cents is not None
                else "plan price",
                "current": a.effective_from <= now
                and (a.effective_to is None or a.effective_to > now),
            }
            for a in rows
        ]


class ClockView(StaffOnlyMixin, TemplateView):
    template_name = "sla/staff_clock.html"

    def _load(self, pk: int) -> None:
        owner = get_object_or_404(Organization, sla_clocks__pk=pk)
        self.clock = sla_clock_get(org=owner, pk=pk)

    def get(self, request, *args, **kwargs):
        self._load(kwargs["pk"])
        return self._render(WaiverRequestForm())

    def post(self, request, *args, **kwargs):
        self._load(kwargs["pk"])
        form = WaiverRequestForm(request.POST)
        if form.is_valid():
            try:
                services.sla_waiver_request(
                    clock=self.clock, actor=request.user, **form.cleaned_data
                )
            except ValidationError as exc:
                apply_validation_error(form, exc)
            else:
                messages.success(
                    request, "Waiver requested; another staff member decides."
                )
                return redirect("staff_sla_clock", pk=self.clock.pk)
        response = self._render(form)
        response.status_code = 400
        return response

    def _render(
        self,
        form: WaiverRequestForm,
        evaluation_form: FedrampClockEvaluationForm | None = None,
    ):
        clock, now = self.clock, timezone.now()
        cr26_part = cr26_clock_context(
            clock=clock,
            now=now,
            may_evaluate=True,
            evaluate_url=reverse("staff_sla_clock_evaluate", args=[clock.pk]),
            fedramp_url=reverse("staff_sla_org", args=[clock.org.slug]) + "#fedramp",
            form=evaluation_form,
        )
        waivers = list(clock.waivers.all())
        pending = any(
            w.state in (SlaWaiver.State.REQUESTED, SlaWaiver.State.APPROVED)
            for w in waivers
        )
        return self.render_to_response(
            self.get_context_data(
                clock=clock,
                timeline=sla_clock_timeline(clock),
                overlays=[
                    {"result": o, "label": o.status.replace("_", " ").capitalize()}
                    for o in clock_overlays(
                        clock, now=now, cr26_measure=cr26_part["cr26"]
                    )
                ],
                **cr26_part,
                waivers=waivers,
                can_request=clock.state in SlaClock.RUNNING and not pending,
                form=form,
                now=now,
            )
        )
