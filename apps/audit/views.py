from collections.abc import Iterator
from typing import Any

from django.http import StreamingHttpResponse
from django.utils import timezone
from django.views.generic import TemplateView

from apps.core.exports import csv_response
from apps.core.mixins import StaffOnlyMixin

from .forms import AuditFilterForm, StaffAuditFilterForm
from .selectors import AuditFilter, audit_event_list, audit_event_page

CSV_COLUMNS = [
    "id",
    "created_at",
    "org",
    "actor_email",
    "action",
    "target_type",
    "target_id",
    "target_repr",
    "ip",
    "user_agent",
    "details",
    "prev_hash",
    "hash",
]


def audit_filters(form) -> AuditFilter:
    if not form.is_valid():
        return AuditFilter()
    data = {k: v for k, v in form.cleaned_data.items() if k != "before" and v}
    return AuditFilter(**data)


def audit_csv_rows(events) -> Iterator[list[Any]]:
    """The header, then one row per event, read in chunks."""
    yield CSV_COLUMNS
    for e in events.iterator(chunk_size=2000):
        yield [
            e.id,
            e.created_at,
            e.org_id,
            e.actor_email,
            e.action,
            e.target_type,
            e.target_id,
            e.target_repr,
            e.ip,
            e.user_agent,
            e.details,
            e.prev_hash,
            e.hash,
        ]


def audit_csv_response(events, filename: str) -> StreamingHttpResponse:
    """The events as a streamed CSV download, through the one export writer."""
    return csv_response(audit_csv_rows(events), filename)


class AuditListMixin:
    """The event list with its filters, HTML or CSV; the org's page and the
    staff page differ in whose events they list."""

    form_class = AuditFilterForm
    template_name = "audit/event_list.html"
    partial_template_name = "audit/_event_table.html"

    def get_org(self):
        return getattr(self, "org", None)

    def get_template_names(self):
        if self.request.headers.get("HX-Request"):
            return [self.partial_template_name]
        return [self.template_name]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        form = self.form_class(self.request.GET or None)
        events = audit_event_list(org=self.get_org(), filters=audit_filters(form))
        before = form.cleaned_data.get("before") if form.is_valid() else None
        rows, next_before = audit_event_page(events=events, before=before)
        query = self.request.GET.copy()
        query.pop("before", None)
        context.update(
            form=form, events=rows, next_before=next_before, query=query.urlencode()
        )
        return context


class StaffAuditLogView(StaffOnlyMixin, AuditListMixin, TemplateView):
    form_class = StaffAuditFilterForm

    def get(self, request, *args, **kwargs):
        if request.GET.get("format") == "csv":
            form = self.form_class(request.GET)
            events = audit_event_list(filters=audit_filters(form)).order_by("id")
            stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
            return audit_csv_response(events, f"audit-all-{stamp}.csv")
        return super().get(request, *args, **kwargs)
