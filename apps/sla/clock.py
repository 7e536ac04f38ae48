"""Clock arithmetic: when a clock starts, when it is due, when it is at risk.

Pure functions of values (no database), so the tables in tests/sla pin them
down. Every time in and out is timezone-aware; local reckoning (day
boundaries, weekends, holidays, the time of day kept across a DST change)
happens in the policy's IANA zone through zoneinfo.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import holidays

UPSTREAM_FIX = "upstream_fix"
DISCLOSURE = "disclosure"
DETECTION = "detection"
RELEASE = "release"
# Not a policy's choice: a clock whose event came before the org's coverage
# (its mirror or its sla entitlement) starts when the coverage began.
COVERAGE = "coverage"

CALENDAR = "calendar"
BUSINESS = "business"


class ClockError(ValueError):
    """A policy value the arithmetic cannot work with."""


@dataclass(frozen=True)
class Events:
    """The timestamps a finding carries, by start event."""

    disclosed_at: datetime | None
    upstream_fix_at: datetime | None
    detected_at: datetime
    released_at: datetime | None

    def at(self, event: str) -> datetime | None:
        return {
            UPSTREAM_FIX: self.upstream_fix_at,
            DISCLOSURE: self.disclosed_at,
            DETECTION: self.detected_at,
            RELEASE: self.released_at,
        }[event]


@dataclass(frozen=True)
class Calendar:
    """How a policy counts days."""

    day_kind: str = BUSINESS
    time_zone: str = "UTC"
    holiday_country: str = ""
    holiday_subdivision: str = ""


def zone(name: str) -> ZoneInfo:
    if not name or name not in _zones():
        raise ClockError(f"Unknown time zone {name!r}.")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:  # pragma: no cover
        raise ClockError(f"Unknown time zone {name!r}.") from exc


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


@lru_cache(maxsize=64)
def holiday_calendar(country: str, subdivision: str = "") -> holidays.HolidayBase:
    """The ``holidays`` package's calendar; raises ClockError for an unknown
    country or subdivision (a typo must not read as "no holidays")."""
    supported = holidays.list_supported_countries()
    if country not in supported:
        raise ClockError(f"Unknown holiday country {country!r}.")
    if subdivision and subdivision not in supported[country]:
        raise ClockError(f"Unknown subdivision {subdivision!r} of {country}.")
    return holidays.country_holidays(country, subdiv=subdivision or None)


def check_calendar(cal: Calendar) -> None:
    if cal.day_kind not in (CALENDAR, BUSINESS):
        raise ClockError(f"Unknown day kind {cal.day_kind!r}.")
    zone(cal.time_zone)
    if cal.holiday_country:
        holiday_calendar(cal.holiday_country, cal.holiday_subdivision)
    elif cal.holiday_subdivision:
        raise ClockError("A subdivision needs its country.")


def is_business_day(day: date, cal: Calendar) -> bool:
    if day.weekday() >= 5:
        return False
    if cal.holiday_country:
        return day not in holiday_calendar(cal.holiday_country, cal.holiday_subdivision)
    return True


def clock_start(events: Events, start_event: str) -> tuple[str, datetime]:
    """The event a clock starts from and its time. When the policy's event has
    no timestamp (no upstream fix known yet, an advisory without a publication
    date), the clock starts at detection and says so in the event it returns."""
    when = events.at(start_event)
    if when is None:
        return DETECTION, events.detected_at
    return start_event, when


def _local(day: date, at: time, tz: ZoneInfo) -> datetime:
    # fold=0: a wall time repeated when clocks go back is its first instance;
    # one skipped when they go forward is read with the offset before the
    # change (02:30 on a spring-forward night is 03:30 daylight time).
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def add_days(started_at: datetime, days: int, cal: Calendar) -> datetime:
    """``days`` whole days after ``started_at``, keeping its local time of day.

    Business days skip Saturdays, Sundays and the calendar's holidays. A start
    on a day off counts from the first business day after it, at midnight, so
    every business day counted is a whole one.
    """
    if days < 0:
        raise ClockError("Days cannot be negative.")
    if started_at.tzinfo is None:
        raise ClockError("The start must carry a time zone.")
    tz = zone(cal.time_zone)
    local = started_at.astimezone(tz)
    day, at = local.date(), local.timetz().replace(tzinfo=None)
    if cal.day_kind == CALENDAR:
        return _local(day + timedelta(days=days), at, tz)
    if not is_business_day(day, cal):
        day = next_business_day(day, cal)
        at = time(0, 0)
    counted = 0
    while counted < days:
        day = next_business_day(day, cal)
        counted += 1
    return _local(day, at, tz)


def next_business_day(day: date, cal: Calendar) -> date:
    day += timedelta(days=1)
    while not is_business_day(day, cal):
        day += timedelta(days=1)
    return day


def end_of_day(day: date, time_zone: str) -> datetime:
    """The instant a local date ends (midnight starting the next one)."""
    return _local(day + timedelta(days=1), time(0, 0), zone(time_zone))


def due(
    started_at: datetime,
    days: int,
    cal: Calendar,
    *,
    kev_due_date: date | None = None,
    kev_caps: bool = False,
) -> tuple[datetime, bool]:
    """The deadline, and whether the KEV due date set it.

    The KEV due date (a date: the end of that day in the policy's zone) caps
    the deadline when earlier; a KEV date already past at the start makes the
    clock due at its start, never before it.
    """
    deadline = add_days(started_at, days, cal)
    if kev_caps and kev_due_date is not None:
        kev_end = max(end_of_day(kev_due_date, cal.time_zone), started_at)
        if kev_end < deadline:
            return kev_end, True
    return deadline, False


def at_risk(started_at: datetime, due_at: datetime, percent: int) -> datetime:
    """When ``percent`` of the window has elapsed, in real time (floored to the
    microsecond, so a run exactly at the threshold finds the clock at risk)."""
    if not 1 <= percent <= 99:
        raise ClockError("The at-risk threshold is a percentage from 1 to 99.")
    return started_at + (due_at - started_at) * percent // 100
