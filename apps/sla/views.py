"""The customer's SLA ledger: clocks by state with filters, the contract's
figures beside the regulatory overlays, attainment by month, one clock's
timeline, and a CSV export.

Who reads it: members (org.view) and the org's auditors (evidence.view), read
only; the ledger is evidence of the patch record an auditor is there to check.
Without the sla entitlement ever held the page offers the plans; after a lapse
it shows the history, and says that no new clocks open.
"""

from __future__ import annotations

import itertools
from datetime import timedelta

from django import forms
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.views import View
from django.views.generic import TemplateView

from apps.core.exports import csv_response
from apps.orgs.mixins import OrgMixin
from apps.orgs.permissions import Perm

from . import overlays, services
from .fedramp_context import cr26_clock_context
from .formats.csv_export import CLOCK_COLUMNS, clock_row
from .models import SLA_SEVERITIES, ClockStartEvent, SlaClock
from .selectors.clocks import (
    SLA_ENTITLEMENT_ACTIVE,
    SLA_ENTITLEMENT_NEVER,
    ClockFilter,
    sla_clock_get,
    sla_clock_list,
    sla_clock_repositories,
    sla_clock_state_counts,
    sla_clock_timeline,
    sla_entitlement_state,
)
from .selectors.metrics import (
    MonthAttainment,
    SeverityFigures,
    sla_attainment_by_month,
    sla_metrics,
)
from .selectors.overlay_figures import sla_overlay_figures

PAGE_SIZE = 50
WINDOWS = {30: "30 days", 90: "90 days", 180: "180 days", 365: "One year"}
DEFAULT_WINDOW = 90
EVENT_LABELS = dict(ClockStartEvent.choices)
State = SlaClock.State


class ClockFilterForm(forms.Form):
    state = forms.ChoiceField(
        choices=[("", "All states"), *State.choices], required=False
    )
    severity = forms.ChoiceField(
        choices=[("", "All severities")]
        + [(s, s.capitalize()) for s in SLA_SEVERITIES],
        required=False,
    )
    repository = forms.CharField(max_length=100, required=False)
    kev = forms.ChoiceField(
        label="KEV",
        choices=[("", "KEV or not"), ("yes", "In KEV"), ("no", "Not in KEV")],
        required=False,
    )
    q = forms.CharField(
        label="Vulnerability id",
        max_length=100,
        required=False,
        help_text="CVE, GHSA, PYSEC or distro id",
    )
    window = forms.TypedChoiceField(
        choices=list(WINDOWS.items()),
        coerce=int,
        required=False,
        empty_value=DEFAULT_WINDOW,
        initial=DEFAULT_WINDOW,
    )

    def filters(self) -> ClockFilter:
        """The valid fields' values; an invalid field filters nothing."""
        data = getattr(self, "cleaned_data", {})
        kev = {"yes": True, "no": False}.get(data.get("kev") or "")
        return ClockFilter(
            state=data.get("state") or "",
            severity=data.get("severity") or "",
            repository=(data.get("repository") or "").strip(),
            kev=kev,
            q=(data.get("q") or "").strip(),
        )

    def window_days(self) -> int:
        data = getattr(self, "cleaned_data", {})
        return data.get("window") or DEFAULT_WINDOW


class SlaReader:
    """Members and auditors read the ledger; nobody writes through it."""

    access: object

    def dispatch(self, request, *args, **kwargs):
        access = self.access
        if not (access.can(Perm.ORG_VIEW) or access.can(Perm.EVIDENCE_VIEW)):
            raise PermissionDenied("Your role does not allow this.")
        return super().dispatch(request, *args, **kwargs)


def _chart(months: list[MonthAttainment]) -> dict:
    """Bar geometry for the attainment chart, in SVG user units."""
    width, height, left, top, bottom = 720, 220, 44, 12, 30
    plot_h = height - top - bottom
    slot = (width - left - 8) / len(months)
    bars = []
    for i, m in enumerate(months):
        x = left + i * slot + slot * 0.15
        percent = m.percent
        # A month at 0 % still shows a sliver of red.
        bar_h = 0.0 if percent is None else max(plot_h * percent / 100, 2.0)
        bars.append(
            {
                "x": round(x, 1),
                "y": round(top + plot_h - bar_h, 1),
                "w": round(slot * 0.7, 1),
                "h": round(bar_h, 1),
                "cx": round(x + slot * 0.35, 1),
                "label": m.month.strftime("%b"),
                "year": m.month.year,
                "percent": percent,
                "judged": m.judged,
                "met": m.met,
                "tone": "none"
                if percent is None
                else ("ok" if percent >= 95 else "warn" if percent >= 80 else "bad"),
            }
        )
    grid = [
        {"y": round(top + plot_h - plot_h * p / 100, 1), "label": f"{p} %"}
        for p in (0, 50, 100)
    ]
    return {
        "width": width,
        "height": height,
        "left": left,
        "grid_x": left - 6,
        "right": width - 8,
        "label_y": height - bottom + 16,
        "empty_y": top + plot_h - 4,
        "bars": bars,
        "grid": grid,
    }


class ClockListView(OrgMixin, SlaReader, TemplateView):
    permission = None
    template_name = "sla/customer_clocks.html"

    def get(self, request, *args, **kwargs):
        context = self.get_context_data(**kwargs)
        status = (
            400 if context.get("form") is not None and context["form"].errors else 200
        )
        return self.render_to_response(context, status=status)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        now = timezone.now()
        entitlement = sla_entitlement_state(org=self.org, now=now)
        context["entitlement"] = entitlement
        if entitlement == SLA_ENTITLEMENT_NEVER:
            return context
        if entitlement == SLA_ENTITLEMENT_ACTIVE:
            context["resolution"] = services.policy_resolution(org=self.org, at=now)
        form = ClockFilterForm(self.request.GET or None)
        if form.is_bound:
            form.is_valid()
        filters = form.filters()
        counts = sla_clock_state_counts(org=self.org, filters=filters)
        clocks = sla_clock_list(org=self.org, filters=filters)
        paginator = Paginator(clocks, PAGE_SIZE)
        # The per-state counts already hold this count: no second COUNT(*).
        paginator.__dict__["count"] = (
            counts[filters.state] if filters.state else sum(counts.values())
        )
        page = paginator.get_page(self.request.GET.get("page"))
        days = form.window_days()
        end = now
        start = end - timedelta(days=days)
        metrics = sla_metrics(org=self.org, start=start, end=end)
        overlay = sla_overlay_figures(org=self.org, start=start, end=end, now=now)
        query = self.request.GET.copy()
        query.pop("page", None)
        state_query = query.copy()
        state_query.pop("state", None)
        windows = []
        for value, label in WINDOWS.items():
            window_query = query.copy()
            window_query["window"] = str(value)
            windows.append(
                {
                    "label": label,
                    "query": window_query.urlencode(),
                    "current": value == days,
                }
            )
        context.update(
            form=form,
            filters=filters,
            counts=counts,
            total=sum(counts.values()),
            states=[(value, label, counts[value]) for value, label in State.choices],
            page=page,
            clocks=page.object_list,
            query=query.urlencode(),
            state_query=state_query.urlencode(),
            repositories=sla_clock_repositories(org=self.org),
            window_days=days,
            windows=windows,
            window_label=WINDOWS[days],
            start=start,
            end=end,
            metrics=metrics,
            severity_rows=[
                _figures_row(severity.capitalize(), metrics.severities[severity])
                for severity in SLA_SEVERITIES
            ],
            overall_row=_figures_row("All severities", metrics.overall),
            overlay=overlay,
            overlay_rows=_overlay_rows(overlay.summary),
            chart=_chart(sla_attainment_by_month(org=self.org, now=now)),
        )
        return context


def days(value: timedelta | None) -> str:
    """A duration as days with one decimal; an em dash for none."""
    if value is None:
        return "—"
    return f"{value.total_seconds() / 86400:.1f} d"


def _figures_row(label: str, figures: SeverityFigures) -> dict:
    return {
        "label": label,
        "attainment": figures.attainment,
        "met": figures.met,
        "missed": figures.missed,
        "breached": figures.breached,
        "open_breaches": figures.open_breaches,
        "at_risk": figures.at_risk,
        "mttr_median": days(figures.mttr_median),
        "mttr_p90": days(figures.mttr_p90),
    }


def _overlay_rows(summary: dict[str, dict]) -> list[dict]:
    rows = []
    for key, entry in summary.items():
        counts = entry["counts"]
        rows.append(
            {
                "key": key,
                "name": entry["name"],
                "percent": entry["percent"],
                "met": counts.get(overlays.MET, 0),
                "missed": counts.get(overlays.MISSED, 0),
                "breached": counts.get(overlays.BREACHED, 0),
                "open": counts.get(overlays.OPEN, 0),
                "exempt": counts.get(overlays.EXEMPT, 0),
                "accepted": counts.get(overlays.ACCEPTED, 0),
                "outside": counts.get(overlays.NOT_APPLICABLE, 0),
            }
        )
    return rows


class _ClockLookup:
    """Another org's clock is not found, whatever the method."""

    org: object

    def dispatch(self, request, *args, **kwargs):
        try:
            self.clock = sla_clock_get(org=self.org, pk=kwargs["pk"])
        except SlaClock.DoesNotExist:
            raise Http404("No such clock.") from None
        return super().dispatch(request, *args, **kwargs)


class ClockDetailView(OrgMixin, SlaReader, _ClockLookup, TemplateView):
    permission = None
    template_name = "sla/clock_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        clock = self.clock
        now = timezone.now()
        slug = self.org.slug
        cr26_part = cr26_clock_context(
            clock=clock,
            now=now,
            may_evaluate=self.access.can(Perm.ORG_MANAGE),
            evaluate_url=reverse("sla:clock_evaluate", args=[slug, clock.pk]),
            fedramp_url=reverse("sla:fedramp", args=[slug]),
            form=kwargs.get("evaluation_form"),
        )
        context.update(
            clock=clock,
            finding=clock.finding,
            version=clock.policy_version,
            repository=clock.finding.digest.variant.series.repository,
            timeline=sla_clock_timeline(clock),
            overlays=[
                {
                    **vars(result),
                    "start_label": EVENT_LABELS.get(result.start_event)
                    or str(result.start_event or "").capitalize(),
                }
                for result in overlays.clock_overlays(
                    clock, now=now, cr26_measure=cr26_part["cr26"]
                )
            ],
            **cr26_part,
            waivers=list(clock.waivers.all()),
            entitlement=sla_entitlement_state(org=self.org, now=now),
            now=now,
        )
        return context


# --- CSV -----------------------------------------------------------------------


class ClockExportView(OrgMixin, SlaReader, View):
    """The filtered clocks as CSV, streamed in chunks."""

    permission = None

    def get(self, request, *args, **kwargs):
        form = ClockFilterForm(request.GET or None)
        if form.is_bound and not form.is_valid():
            lines = [
                f"{field}: {' '.join(errs)}" for field, errs in form.errors.items()
            ]
            return HttpResponse(
                "\n".join(lines) + "\n",
                status=400,
                content_type="text/plain; charset=utf-8",
            )
        clocks = sla_clock_list(org=self.org, filters=form.filters())
        rows = (clock_row(clock) for clock in clocks.iterator(chunk_size=2000))
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        return csv_response(
            itertools.chain([CLOCK_COLUMNS], rows), f"sla-{self.org.slug}-{stamp}.csv"
        )
