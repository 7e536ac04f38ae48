"""The lifecycle calendar: the page and its ICS feed, public like the catalog."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.http import Http404, HttpResponse
from django.utils import timezone
from django.views import View
from django.views.generic import TemplateView

from . import selectors
from .forms import LifecycleFilterForm
from .selectors import LifecycleEvent, LifecycleFilter

logger = logging.getLogger(__name__)

REPOSITORIES_PER_PAGE = 25
HISTORY_PER_PAGE = 50
FINDINGS_PER_PAGE = 50
COMPONENTS_PER_PAGE = 100
VEX_SHOWN = 100
LIFECYCLE_SHOWN = 500


class LifecycleView(TemplateView):
    template_name = "catalog/lifecycle.html"

    def get_context_data(self, **kwargs):
        today = timezone.now().date()
        form = LifecycleFilterForm(self.request.GET or None)
        if form.is_bound:
            filters, past = form.filters(today=today), form.past
        else:
            filters, past = LifecycleFilter(start=today), False
        events = selectors.lifecycle_events(filters=filters, newest_first=past)
        return {
            **super().get_context_data(**kwargs),
            "form": form,
            "past": past,
            "events": events[:LIFECYCLE_SHOWN],
            "event_total": len(events),
            "today": today,
        }


# --------------------------------------------------------------------------
# The ICS feed (RFC 5545), written by hand: it is small and fully tested.
# --------------------------------------------------------------------------

ICS_LINE_OCTETS = 75


def ics_escape(value: str) -> str:
    """A TEXT value (RFC 5545 3.3.11): backslash, semicolon, comma, newline."""
    return (
        value.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def ics_fold(line: str) -> str:
    """Fold a content line at 75 octets (RFC 5545 3.1), never inside a UTF-8
    character; continuation lines start with one space."""
    raw = line.encode()
    parts = []
    limit = ICS_LINE_OCTETS
    while len(raw) > limit:
        cut = limit
        while raw[cut] & 0xC0 == 0x80:  # a continuation byte: step back
            cut -= 1
        parts.append(raw[:cut])
        raw = raw[cut:]
        limit = ICS_LINE_OCTETS - 1  # the leading space counts
    parts.append(raw)
    return "\r\n ".join(p.decode() for p in parts)


def _ics_date(day: date) -> str:
    return day.strftime("%Y%m%d")


def ics_calendar(
    *,
    events: Iterable[LifecycleEvent],
    name: str,
    host: str,
    stamp: datetime,
    url_for,
) -> str:
    """One all-day VEVENT per end date. A UID names the repository, series and
    kind of date, so a client updates an event when its date moves."""
    dtstamp = stamp.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:-//{ics_escape(settings.SITE_NAME)}//Catalog lifecycle//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{ics_escape(name)}",
    ]
    for event in events:
        repository, series = event.repository, event.series
        what = f"{repository.name} {series.name}"
        url = url_for(repository)
        lines += [
            "BEGIN:VEVENT",
            f"UID:{ics_escape(f'{event.kind}.{repository.name}.{series.name}@{host}')}",
            f"DTSTAMP:{dtstamp}",
            f"DTSTART;VALUE=DATE:{_ics_date(event.day)}",
            f"DTEND;VALUE=DATE:{_ics_date(event.day + timedelta(days=1))}",
            f"SUMMARY:{ics_escape(f'{what}: {event.label.lower()}')}",
            "DESCRIPTION:"
            + ics_escape(
                f"{event.label} for {repository.display_name} {series.name} "
                f"({repository.name}:{series.name}).\n{url}"
            ),
            f"URL:{url}",
            f"CATEGORIES:{ics_escape(event.label)}",
            "TRANSP:TRANSPARENT",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(ics_fold(line) + "\r\n" for line in lines)


class LifecycleIcsView(View):
    """Subscribe to every end date, or one repository's (``?repository=name``)."""

    def get(self, request):
        name = request.GET.get("repository", "")
        title = f"{settings.SITE_NAME}: lifecycle"
        if name:
            repository = selectors.repository_get(name=name)
            if repository is None:
                raise Http404("No such repository.")
            title = f"{repository.display_name} lifecycle"
        events = selectors.lifecycle_events(filters=LifecycleFilter(repository=name))
        body = ics_calendar(
            events=events,
            name=title,
            host=urlsplit(settings.SITE_URL).hostname or "localhost",
            stamp=timezone.now(),
            url_for=lambda r: request.build_absolute_uri(r.get_absolute_url()),
        )
        response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
        filename = f"{name or 'catalog'}-lifecycle.ics"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["Cache-Control"] = "public, max-age=3600"
        return response
