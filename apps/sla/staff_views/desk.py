"""The desk (every customer's clocks at risk and breached), the entitled
customers and the ledger check."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.shortcuts import redirect
from django.utils import timezone
from django.views.generic import TemplateView

from apps.core.mixins import StaffOnlyMixin
from apps.cra.selectors import cra_desk_figures

from ..ledger_checks import ledger_figures
from ..models import SlaWaiver
from ..selectors.desk import (
    ledger_check_last,
    sla_desk_customers,
    sla_desk_page,
    sla_desk_summary,
)
from ..staff_forms import DeskFilterForm, cursor_token
from ..tasks import ledger_check as ledger_check_task
from .presentation import metrics_rows, with_status


class DeskView(StaffOnlyMixin, TemplateView):
    template_name = "sla/staff_desk.html"

    def get(self, request, *args, **kwargs):
        form = DeskFilterForm(request.GET)
        filters = form.filters()
        page = sla_desk_page(filters=filters, after=form.cursor())
        start, end = form.window()
        summary = sla_desk_summary(filters=filters, start=start, end=end)
        more = None
        if page.next_cursor is not None:
            query = request.GET.copy()
            query["after"] = cursor_token(page.next_cursor)
            more = query.urlencode()
        first_page = None
        if form.cursor() is not None:
            query = request.GET.copy()
            query.pop("after", None)
            first_page = query.urlencode() or "state="
        context = self.get_context_data(
            form=form,
            clocks=page.clocks,
            more=more,
            first_page=first_page,
            counts=summary.counts,
            metrics=metrics_rows(summary.metrics),
            figures_at=summary.computed_at,
            window=(start, end - timedelta(days=1)),
            waivers_waiting=SlaWaiver.objects.filter(
                state=SlaWaiver.State.REQUESTED
            ).count(),
            last_check=ledger_check_last(),
            cra=cra_desk_figures(now=timezone.now()),
            now=timezone.now(),
        )
        return with_status(self.render_to_response(context), form)


class CustomersView(StaffOnlyMixin, TemplateView):
    """Every org holding the SLA now: its running clocks, its policy, and
    whether the last ledger check found anything wrong with its ledger."""

    template_name = "sla/staff_customers.html"

    def get(self, request, *args, **kwargs):
        now = timezone.now()
        last_check = ledger_check_last()
        customers = sla_desk_customers(now=now, last_check=last_check)
        context = self.get_context_data(
            customers=customers,
            last_check=last_check,
            flagged=sum(1 for c in customers if c.no_policy or c.gaps),
            now=now,
        )
        return self.render_to_response(context)


class LedgerCheckView(StaffOnlyMixin, TemplateView):
    """The last run of the ledger's invariants; staff may run it now."""

    template_name = "sla/staff_ledger_check.html"

    def get(self, request, *args, **kwargs):
        run = ledger_check_last()
        context = self.get_context_data(
            run=run, figures=ledger_figures(at=timezone.now())
        )
        if run is not None:
            context["checks"] = sorted(run.checks.items())
            took = (run.finished_at - run.started_at).total_seconds()
            context["took"] = f"{took:.1f} s"
        return self.render_to_response(context)

    def post(self, request, *args, **kwargs):
        asked = timezone.now()
        ledger_check_task.delay(trigger=request.user.email)
        messages.success(
            request,
            f"Ledger check requested at {asked:%H:%M:%S} UTC. A run started after "
            "that is its result.",
        )
        return redirect("staff_sla_ledger_check")
