"""The publisher staff's SLA desk: every customer's clocks at risk and
breached, a drill-down per customer, waivers awaiting a second pair of eyes,
credits owed and the policies' versions.

Reads come from the selectors, writes go through the services; a service's
refusal is shown on the form (or as a message) and nothing is written.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Max, Prefetch
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import path
from django.utils import timezone
from django.views import View
from django.views.generic import TemplateView

from apps.catalog.staff import StaffOnlyMixin
from apps.core.forms import apply_validation_error
from apps.orgs.models import Organization

from . import selectors, services
from .ledger_checks import ledger_gaps
from .models import (
    SLA_SEVERITIES,
    SlaClock,
    SlaPolicy,
    SlaPolicyAssignment,
    SlaPolicyVersion,
    SlaWaiver,
)
from .overlays import clock_overlays
from .staff_forms import (
    DeskFilterForm,
    PolicyAssignForm,
    PolicyVersionForm,
    WaiverRejectForm,
    WaiverRequestForm,
    WindowForm,
    cursor_token,
    parse_cursor,
)
from .tasks import ledger_check as ledger_check_task

State = SlaClock.State


# --- presentation helpers --------------------------------------------------------


def duration_text(value: timedelta | None) -> str:
    """A duration as people read it: "3d 4h", "5h 10m", "—"."""
    if value is None:
        return "—"
    minutes = int(value.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:g} %"


def metrics_rows(metrics: selectors.Metrics) -> list[dict[str, Any]]:
    """One row per severity, then the overall one."""
    rows = []
    named = [(s, metrics.severities.get(s)) for s in SLA_SEVERITIES]
    for name, figures in [*named, ("all", metrics.overall)]:
        if figures is None:
            continue
        rows.append(
            {
                "severity": name,
                "met": figures.met,
                "missed": figures.missed,
                "breached": figures.breached,
                "attainment": _percent(figures.attainment),
                "mttr_median": duration_text(figures.mttr_median),
                "mttr_p90": duration_text(figures.mttr_p90),
                "open_breaches": figures.open_breaches,
                "at_risk": figures.at_risk,
            }
        )
    return rows


def cents_text(cents: int) -> str:
    return f"${cents // 100:,}.{cents % 100:02d}"


# The trend chart's geometry, in SVG user units.
CHART_W, CHART_H = 720, 240
PAD_L, PAD_R, PAD_T, PAD_B = 44, 52, 12, 28


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    w: float
    h: float
    cx: float
    label: str
    title: str


def trend_chart(trend: list[selectors.TrendMonth]) -> dict[str, Any]:
    """Coordinates for an inline SVG: attainment bars on the left axis (0 to
    100 %), median time to fix as a line on the right axis (days)."""
    plot_w = CHART_W - PAD_L - PAD_R
    plot_h = CHART_H - PAD_T - PAD_B
    base = PAD_T + plot_h
    slot = plot_w / max(len(trend), 1)
    days = [
        m.mttr_median.total_seconds() / 86400 if m.mttr_median is not None else None
        for m in trend
    ]
    top_days = max([d for d in days if d is not None] or [1.0])
    top_days = max(1, int(top_days) + (0 if top_days == int(top_days) else 1))
    bars, points, dots = [], [], []
    for i, month in enumerate(trend):
        x = PAD_L + i * slot
        label = month.month.strftime("%b %y")
        percent = month.attainment
        height = plot_h * (percent or 0) / 100
        title = (
            f"{month.month:%B %Y}: attainment {_percent(percent)} "
            f"({month.met} met, {month.missed} missed, {month.breached} breached); "
            f"median time to fix {duration_text(month.mttr_median)}"
        )
        bars.append(
            Bar(
                round(x + slot * 0.2, 1),
                round(base - height, 1),
                round(slot * 0.6, 1),
                round(height, 1),
                round(x + slot / 2, 1),
                label,
                title,
            )
        )
        if days[i] is not None:
            cx = round(x + slot / 2, 1)
            cy = round(base - plot_h * days[i] / top_days, 1)
            points.append(f"{cx},{cy}")
            dots.append({"cx": cx, "cy": cy, "title": title})
    grid = [
        {"y": round(base - plot_h * p / 100, 1), "label": f"{p} %"}
        for p in (0, 25, 50, 75, 100)
    ]
    return {
        "width": CHART_W,
        "height": CHART_H,
        "left": PAD_L,
        "right": CHART_W - PAD_R,
        "label_x": PAD_L - 6,
        "right_label_x": CHART_W - PAD_R + 6,
        "label_y": CHART_H - 8,
        "bars": bars,
        "grid": grid,
        "line": " ".join(points),
        "dots": dots,
        "top_days": top_days,
        "top_y": PAD_T + 4,
        "has_data": any(m.met + m.missed + m.breached for m in trend),
    }


def _with_status(response, form) -> Any:
    if form.errors:
        response.status_code = 400
    return response


def _cursor_from(raw: str) -> tuple[Any, int] | None:
    try:
        return parse_cursor(raw)
    except ValidationError:
        return None


# --- the desk ------------------------------------------------------------------------


class DeskView(StaffOnlyMixin, TemplateView):
    template_name = "sla/staff_desk.html"

    def get(self, request, *args, **kwargs):
        form = DeskFilterForm(request.GET)
        filters = form.filters()
        page = selectors.sla_desk_page(filters=filters, after=form.cursor())
        start, end = form.window()
        summary = selectors.sla_desk_summary(filters=filters, start=start, end=end)
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
            last_check=selectors.ledger_check_last(),
            now=timezone.now(),
        )
        return _with_status(self.render_to_response(context), form)


class CustomersView(StaffOnlyMixin, TemplateView):
    """Every org holding the SLA now: its running clocks, its policy, and
    whether the last ledger check found anything wrong with its ledger."""

    template_name = "sla/staff_customers.html"

    def get(self, request, *args, **kwargs):
        now = timezone.now()
        last_check = selectors.ledger_check_last()
        customers = selectors.sla_desk_customers(now=now, last_check=last_check)
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
        run = selectors.ledger_check_last()
        context = self.get_context_data(run=run)
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

    def _render(self, window_form: WindowForm, assign_form: PolicyAssignForm):
        org, now = self.customer, timezone.now()
        start, end = window_form.window()
        running = selectors.DeskFilters(states=tuple(SlaClock.RUNNING), org_id=org.pk)
        after = _cursor_from(self.request.GET.get("after", ""))
        page = selectors.sla_desk_page(filters=running, after=after)
        more = None
        if page.next_cursor is not None:
            query = self.request.GET.copy()
            query["after"] = cursor_token(page.next_cursor)
            more = query.urlencode()
        credits = selectors.sla_credits_owed(org=org, start=start, end=end)
        trend = selectors.sla_monthly_trend(org=org, end=now)
        resolution = services.policy_resolution(org=org, at=now)
        context = self.get_context_data(
            customer=org,
            form=window_form,
            assign_form=assign_form,
            clocks=page.clocks,
            more=more,
            counts=selectors.sla_desk_counts(filters=running),
            metrics=metrics_rows(selectors.sla_metrics(org=org, start=start, end=end)),
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
                    "attainment": _percent(m.attainment),
                    "mttr": duration_text(m.mttr_median),
                }
                for m in trend
            ],
            chart=trend_chart(trend),
            assignments=self._assignments(org, now),
            in_effect=resolution.version,
            resolution=resolution,
            gaps=ledger_gaps(at=now, orgs=[org]),
            entitlement=selectors.sla_entitlement_state(org=org, now=now),
            now=now,
        )
        return _with_status(self.render_to_response(context), window_form)

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
        self.clock = selectors.sla_clock_get(org=owner, pk=pk)

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

    def _render(self, form: WaiverRequestForm):
        clock, now = self.clock, timezone.now()
        waivers = list(clock.waivers.all())
        pending = any(
            w.state in (SlaWaiver.State.REQUESTED, SlaWaiver.State.APPROVED)
            for w in waivers
        )
        return self.render_to_response(
            self.get_context_data(
                clock=clock,
                timeline=selectors.sla_clock_timeline(clock),
                overlays=[
                    {"result": o, "label": o.status.replace("_", " ").capitalize()}
                    for o in clock_overlays(clock, now=now)
                ],
                waivers=waivers,
                can_request=clock.state in SlaClock.RUNNING and not pending,
                form=form,
                now=now,
            )
        )


# --- waivers -------------------------------------------------------------------------


class WaiversView(StaffOnlyMixin, TemplateView):
    template_name = "sla/staff_waivers.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["waivers"] = selectors.sla_waivers_pending()
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


# --- credits -------------------------------------------------------------------------

CREDIT_COLUMNS = [
    "org_slug",
    "org_name",
    "month",
    "policy_version",
    "breaches",
    "monthly_fee_cents",
    "percent_per_breach",
    "cap_percent",
    "credit_cents",
]


class _Echo:
    def write(self, value: str) -> str:
        return value


class CreditsView(StaffOnlyMixin, TemplateView):
    template_name = "sla/staff_credits.html"

    def get(self, request, *args, **kwargs):
        form = WindowForm(request.GET)
        start, end = form.window()
        owed = selectors.sla_credits_owed_all(start=start, end=end)
        if request.GET.get("format") == "csv" and not form.errors:
            return self._csv(owed, start, end)
        context = self.get_context_data(
            form=form,
            window=(start, end - timedelta(days=1)),
            rows=[
                {
                    "credits": c,
                    "total": cents_text(c.total_cents),
                    "lines": [
                        {
                            "line": line,
                            "credit": cents_text(line.credit_cents),
                            "fee": cents_text(line.fee_cents),
                        }
                        for line in c.lines
                    ],
                }
                for c in owed
            ],
            grand_total=cents_text(sum(c.total_cents for c in owed)),
            csv_query=request.GET.urlencode(),
        )
        return _with_status(self.render_to_response(context), form)

    @staticmethod
    def _csv(owed, start, end) -> HttpResponse:
        writer = csv.writer(_Echo())

        def rows():
            yield writer.writerow(CREDIT_COLUMNS)
            for credits in owed:
                for line in credits.lines:
                    yield writer.writerow(
                        [
                            credits.org.slug,
                            credits.org.name,
                            line.month.isoformat(),
                            line.policy_version,
                            line.breaches,
                            line.fee_cents,
                            line.percent_per_breach,
                            "" if line.cap_percent is None else line.cap_percent,
                            line.credit_cents,
                        ]
                    )

        response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
        last = (end - timedelta(days=1)).date()
        name = f"sla-credits-{start.date().isoformat()}-{last.isoformat()}.csv"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


# --- policies ------------------------------------------------------------------------


def _versions() -> Prefetch:
    return Prefetch(
        "versions",
        queryset=SlaPolicyVersion.objects.annotate(clock_count=Count("clocks"))
        .select_related("created_by")
        .order_by("-version"),
    )


class PoliciesView(StaffOnlyMixin, TemplateView):
    template_name = "sla/staff_policies.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["policies"] = (
            SlaPolicy.objects.select_related("plan", "org")
            .prefetch_related(_versions())
            .order_by("org", "plan__position", "key")
        )
        return context


class PolicyView(StaffOnlyMixin, TemplateView):
    template_name = "sla/staff_policy.html"

    def _load(self, pk: int) -> None:
        self.policy = get_object_or_404(
            SlaPolicy.objects.select_related("plan", "org").prefetch_related(
                _versions()
            ),
            pk=pk,
        )

    def get(self, request, *args, **kwargs):
        self._load(kwargs["pk"])
        versions = list(self.policy.versions.all())
        initial = (
            {name: getattr(versions[0], name) for name in services.VERSION_FIELDS}
            if versions
            else {}
        )
        return self._render(PolicyVersionForm(initial=initial))

    def post(self, request, *args, **kwargs):
        self._load(kwargs["pk"])
        form = PolicyVersionForm(request.POST)
        if form.is_valid():
            try:
                version = services.sla_policy_version_create(
                    policy=self.policy, actor=request.user, **form.cleaned_data
                )
            except ValidationError as exc:
                apply_validation_error(form, exc)
            else:
                messages.success(
                    request,
                    f"Version {version.version} created; clocks opened from now "
                    "on use it, earlier clocks keep theirs.",
                )
                return redirect("staff_sla_policy", pk=self.policy.pk)
        response = self._render(form)
        response.status_code = 400
        return response

    def _render(self, form: PolicyVersionForm):
        return self.render_to_response(
            self.get_context_data(
                policy=self.policy, versions=self.policy.versions.all(), form=form
            )
        )


urlpatterns = [
    path("", DeskView.as_view(), name="staff_sla_desk"),
    path("orgs/<slug:slug>/", OrgView.as_view(), name="staff_sla_org"),
    path("clocks/<int:pk>/", ClockView.as_view(), name="staff_sla_clock"),
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
