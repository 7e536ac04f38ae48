"""Forms of the publisher staff's SLA desk. They parse and bound the input;
the services decide (and say why they refuse)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django import forms
from django.db.models import Q
from django.utils import timezone

from apps.catalog.models import Repository
from apps.core.forms import AsciiIntegerField
from apps.core.inputs import ascii_int
from apps.orgs.models import Organization

from . import clock as arithmetic
from .models import SLA_SEVERITIES, DayKind, SlaClock, SlaPolicy, StartEvent
from .selectors.desk import DESK_DEFAULT_WINDOW_DAYS, DESK_STATES, DeskFilters

# A window longer than this is a report, not a page.
MAX_WINDOW_DAYS = 3 * 366
DEFAULT_WINDOW_DAYS = DESK_DEFAULT_WINDOW_DAYS


def _day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


class WindowForm(forms.Form):
    """A window of whole days (UTC), the end day included."""

    start = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Included.",
    )

    @staticmethod
    def default_days() -> tuple[date, date]:
        today = timezone.now().astimezone(UTC).date()
        return today - timedelta(days=DEFAULT_WINDOW_DAYS - 1), today

    def clean(self):
        cleaned = super().clean()
        first, last = self.default_days()
        start = cleaned.get("start") or first
        end = cleaned.get("end") or last
        if "start" in self.errors or "end" in self.errors:
            return cleaned
        if end < start:
            raise forms.ValidationError("The window must end on or after its start.")
        if (end - start).days >= MAX_WINDOW_DAYS:
            raise forms.ValidationError(
                f"A window is at most {MAX_WINDOW_DAYS} days; use the reports."
            )
        cleaned["start"], cleaned["end"] = start, end
        return cleaned

    def window(self) -> tuple[datetime, datetime]:
        """[start, end) as times; the defaults when the input was bad."""
        if self.is_valid():
            start, end = self.cleaned_data["start"], self.cleaned_data["end"]
        else:
            start, end = self.default_days()
        return _day_start(start), _day_start(end) + timedelta(days=1)


STATE_CHOICES = [
    ("", "At risk and breached"),
    *((state.value, state.label) for state in DESK_STATES),
    (SlaClock.State.OPEN.value, "Open (not yet at risk)"),
    ("running", "Every running clock"),
]
SEVERITY_CHOICES = [("", "Any severity")] + [
    (s, s.capitalize()) for s in SLA_SEVERITIES
]
_STATES: dict[str, tuple[str, ...]] = {
    "": DESK_STATES,
    "running": tuple(SlaClock.RUNNING),
}
KEV_CHOICES = [("", "KEV or not"), ("yes", "In CISA KEV"), ("no", "Not in KEV")]


class DeskFilterForm(WindowForm):
    state = forms.ChoiceField(choices=STATE_CHOICES, required=False)
    severity = forms.ChoiceField(choices=SEVERITY_CHOICES, required=False)
    org = forms.SlugField(required=False, label="Organization", help_text="Its slug.")
    repository = forms.CharField(required=False, max_length=200)
    kev = forms.ChoiceField(choices=KEV_CHOICES, required=False, label="KEV")
    after = forms.CharField(required=False, widget=forms.HiddenInput)

    field_order = ["state", "severity", "org", "repository", "kev", "start", "end"]

    def clean_org(self) -> Organization | None:
        slug = self.cleaned_data.get("org")
        if not slug:
            return None
        org = Organization.objects.filter(slug=slug).first()
        if org is None:
            raise forms.ValidationError(f"No organization has the slug {slug!r}.")
        return org

    def clean_repository(self) -> Repository | None:
        name = (self.cleaned_data.get("repository") or "").strip()
        if not name:
            return None
        repository = Repository.objects.filter(name=name).first()
        if repository is None:
            raise forms.ValidationError(f"No repository is named {name!r}.")
        return repository

    def clean_after(self) -> tuple[datetime, int] | None:
        return parse_cursor(self.cleaned_data.get("after") or "")

    def filters(self) -> DeskFilters:
        if not self.is_valid():
            return DeskFilters()
        data = self.cleaned_data
        kev = {"yes": True, "no": False}.get(data["kev"])
        return DeskFilters(
            states=_STATES.get(data["state"], (data["state"],)),
            severity=data["severity"] or None,
            org_id=data["org"].pk if data["org"] else None,
            repository_id=data["repository"].pk if data["repository"] else None,
            kev=kev,
        )

    def cursor(self) -> tuple[datetime, int] | None:
        return self.cleaned_data.get("after") if self.is_valid() else None


def parse_cursor(raw: str) -> tuple[datetime, int] | None:
    """The (due_at, id) keyset a page link carries; None for the first page."""
    if not raw:
        return None
    try:
        stamp, pk = raw.rsplit("_", 1)
        due = datetime.fromisoformat(stamp)
    except ValueError:
        raise forms.ValidationError("This page link is not valid.") from None
    number = ascii_int(pk)
    if number is None or timezone.is_naive(due):
        raise forms.ValidationError("This page link is not valid.")
    return due, number


def cursor_token(cursor: tuple[datetime, int]) -> str:
    due, pk = cursor
    return f"{due.astimezone(UTC).isoformat()}_{pk}"


class WaiverRequestForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
        help_text="Why the clock should stop; a second staff member decides.",
    )
    expires_at = forms.DateTimeField(
        label="Expires",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="UTC. The clock resumes then.",
    )


class WaiverRejectForm(forms.Form):
    reason = forms.CharField(required=False, max_length=2000)


class PolicyAssignForm(forms.Form):
    policy = forms.ModelChoiceField(queryset=SlaPolicy.objects.none())
    effective_from = forms.DateTimeField(
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="UTC. Applies to clocks opened from then on.",
    )
    effective_to = forms.DateTimeField(
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="UTC; empty: open-ended.",
    )
    monthly_fee = forms.DecimalField(
        required=False,
        min_value=Decimal(0),
        max_digits=10,
        decimal_places=2,
        label="Monthly fee (USD)",
        help_text="The base of service credits; empty: the plan's list price.",
    )

    def __init__(self, *args, org: Organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["policy"].queryset = SlaPolicy.objects.filter(
            Q(org__isnull=True) | Q(org=org)
        ).order_by("name")

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        fee = data["monthly_fee"]
        return {
            "policy": data["policy"],
            "effective_from": data["effective_from"],
            "effective_to": data["effective_to"],
            "monthly_fee_cents": int(fee * 100) if fee is not None else None,
        }


def _days(label: str) -> forms.IntegerField:
    return AsciiIntegerField(
        required=False,
        min_value=1,
        max_value=32767,
        label=label,
        help_text="Empty: outside the SLA.",
    )


class PolicyVersionForm(forms.Form):
    """Every term of a version; the new version takes them all."""

    critical_days = _days("Critical (days)")
    high_days = _days("High (days)")
    medium_days = _days("Medium (days)")
    low_days = _days("Low (days)")
    day_kind = forms.ChoiceField(choices=DayKind.choices)
    holiday_country = forms.CharField(
        required=False, max_length=3, help_text="ISO code, e.g. US; empty: none."
    )
    holiday_subdivision = forms.CharField(
        required=False, max_length=10, help_text="e.g. CA; needs a country."
    )
    time_zone = forms.CharField(max_length=64, help_text="e.g. America/New_York.")
    start_event = forms.ChoiceField(choices=StartEvent.choices)
    at_risk_percent = AsciiIntegerField(
        min_value=1, max_value=99, label="At risk at (%)"
    )
    kev_caps = forms.BooleanField(
        required=False, label="The CISA KEV due date caps the deadline"
    )
    credit_percent_per_breach = AsciiIntegerField(
        required=False,
        min_value=0,
        max_value=100,
        label="Credit per breach (%)",
        help_text="Of the monthly fee; empty: no credits.",
    )
    credit_cap_percent = AsciiIntegerField(
        required=False,
        min_value=0,
        max_value=100,
        label="Credit cap per month (%)",
    )

    # The service checks these too; checking here as well shows every
    # problem of the form at once, not the calendar's after the bounds'.
    def clean_time_zone(self) -> str:
        value = self.cleaned_data["time_zone"].strip()
        try:
            arithmetic.zone(value)
        except arithmetic.ClockError as exc:
            raise forms.ValidationError(str(exc)) from None
        return value

    def clean(self):
        cleaned = super().clean()
        country = (cleaned.get("holiday_country") or "").strip()
        subdivision = (cleaned.get("holiday_subdivision") or "").strip()
        try:
            if country:
                arithmetic.holiday_calendar(country, subdivision)
            elif subdivision:
                raise arithmetic.ClockError("A subdivision needs its country.")
        except arithmetic.ClockError as exc:
            self.add_error("holiday_country", str(exc))
        return cleaned
