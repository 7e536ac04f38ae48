"""The clock arithmetic, table by table, and its properties."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.sla import clock
from apps.sla.clock import Calendar, ClockError, Events

NY = ZoneInfo("America/New_York")
US_BUSINESS = Calendar(day_kind="business", time_zone="UTC", holiday_country="US")
NY_BUSINESS = Calendar(
    day_kind="business", time_zone="America/New_York", holiday_country="US"
)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def ny(*args) -> datetime:
    return datetime(*args, tzinfo=NY)


@pytest.mark.parametrize(
    ("label", "start", "days", "cal", "expected"),
    [
        (
            "seven business days from a Monday skip one weekend",
            utc(2026, 3, 2, 12),
            7,
            US_BUSINESS,
            utc(2026, 3, 11, 12),
        ),
        (
            "Friday plus one is Monday",
            utc(2026, 3, 6, 9),
            1,
            US_BUSINESS,
            utc(2026, 3, 9, 9),
        ),
        (
            "a Saturday start counts from Monday midnight",
            utc(2026, 3, 7, 10),
            1,
            US_BUSINESS,
            utc(2026, 3, 10, 0),
        ),
        (
            "a Sunday start counts from Monday midnight",
            utc(2026, 3, 8, 23, 59),
            2,
            US_BUSINESS,
            utc(2026, 3, 11, 0),
        ),
        (
            "Thanksgiving is skipped, the Friday after is not",
            utc(2026, 11, 25, 12),
            2,
            US_BUSINESS,
            utc(2026, 11, 30, 12),
        ),
        (
            "a start on Thanksgiving counts from Friday midnight",
            utc(2026, 11, 26, 8),
            1,
            US_BUSINESS,
            utc(2026, 11, 30, 0),
        ),
        (
            "July 4th on a Saturday is observed on Friday the 3rd",
            utc(2026, 7, 2, 12),
            1,
            US_BUSINESS,
            utc(2026, 7, 6, 12),
        ),
        (
            "July 4th on a weekday",
            utc(2025, 7, 3, 12),
            1,
            US_BUSINESS,
            utc(2025, 7, 7, 12),
        ),
        (
            "across a month end",
            utc(2026, 1, 30, 15),
            2,
            US_BUSINESS,
            utc(2026, 2, 3, 15),
        ),
        (
            "across a year end and New Year's Day",
            utc(2025, 12, 31, 12),
            1,
            US_BUSINESS,
            utc(2026, 1, 2, 12),
        ),
        (
            "February month end in a leap year",
            utc(2028, 2, 28, 10),
            2,
            US_BUSINESS,
            utc(2028, 3, 1, 10),
        ),
        (
            "without a holiday calendar Thanksgiving is a business day",
            utc(2026, 11, 25, 12),
            2,
            Calendar(day_kind="business"),
            utc(2026, 11, 27, 12),
        ),
        (
            "spring forward keeps the local time of day",
            ny(2026, 3, 6, 10),
            1,
            NY_BUSINESS,
            utc(2026, 3, 9, 14),
        ),
        (
            "fall back keeps the local time of day",
            ny(2026, 10, 30, 10),
            1,
            NY_BUSINESS,
            utc(2026, 11, 2, 15),
        ),
        (
            "the local date decides the weekday, not UTC's",
            utc(2026, 3, 6, 3),
            1,
            NY_BUSINESS,
            utc(2026, 3, 7, 3),
        ),
        (
            "calendar days across a month end",
            utc(2026, 1, 30, 15),
            30,
            Calendar(day_kind="calendar"),
            utc(2026, 3, 1, 15),
        ),
        (
            "calendar days across spring forward keep the wall time (23 h day)",
            ny(2026, 3, 7, 10),
            2,
            Calendar("calendar", "America/New_York"),
            utc(2026, 3, 9, 14),
        ),
        (
            "calendar days count weekends and holidays",
            utc(2026, 11, 25, 12),
            2,
            Calendar("calendar", "UTC", "US"),
            utc(2026, 11, 27, 12),
        ),
    ],
)
def test_add_days(label, start, days, cal, expected):
    assert clock.add_days(start, days, cal) == expected, label


def test_a_skipped_wall_time_is_read_with_the_offset_before_the_change():
    # 02:30 does not exist in New York on 8 March 2026; Friday 02:30 plus
    # calendar days lands there and reads as 03:30 daylight time.
    start = ny(2026, 3, 6, 2, 30)
    assert clock.add_days(start, 2, Calendar("calendar", "America/New_York")) == utc(
        2026, 3, 8, 7, 30
    )


EVENTS = Events(
    disclosed_at=utc(2026, 2, 1),
    upstream_fix_at=utc(2026, 2, 10),
    detected_at=utc(2026, 2, 12),
    released_at=utc(2026, 1, 20),
)


@pytest.mark.parametrize(
    ("events", "start_event", "expected"),
    [
        (EVENTS, "upstream_fix", ("upstream_fix", utc(2026, 2, 10))),
        (EVENTS, "disclosure", ("disclosure", utc(2026, 2, 1))),
        (EVENTS, "detection", ("detection", utc(2026, 2, 12))),
        (EVENTS, "release", ("release", utc(2026, 1, 20))),
        (
            Events(None, None, utc(2026, 2, 12), utc(2026, 1, 20)),
            "upstream_fix",
            ("detection", utc(2026, 2, 12)),
        ),
        (
            Events(None, None, utc(2026, 2, 12), utc(2026, 1, 20)),
            "disclosure",
            ("detection", utc(2026, 2, 12)),
        ),
        (
            Events(None, None, utc(2026, 2, 12), None),
            "release",
            ("detection", utc(2026, 2, 12)),
        ),
    ],
)
def test_clock_start_per_event_and_fallback_to_detection(events, start_event, expected):
    assert clock.clock_start(events, start_event) == expected


START = utc(2026, 3, 2, 12)  # Monday; 7 business days: Wednesday 11 March 12:00


@pytest.mark.parametrize(
    ("label", "kev_due_date", "kev_caps", "cal", "expected", "capped"),
    [
        ("no KEV date", None, True, US_BUSINESS, utc(2026, 3, 11, 12), False),
        (
            "an earlier KEV date caps at the end of its day",
            date(2026, 3, 5),
            True,
            US_BUSINESS,
            utc(2026, 3, 6),
            True,
        ),
        (
            "the end of the KEV day is in the policy's zone",
            date(2026, 3, 5),
            True,
            NY_BUSINESS,
            utc(2026, 3, 6, 5),
            True,
        ),
        (
            "a later KEV date does not extend the deadline",
            date(2026, 3, 20),
            True,
            US_BUSINESS,
            utc(2026, 3, 11, 12),
            False,
        ),
        (
            "a KEV date on the due day ends after the due time",
            date(2026, 3, 11),
            True,
            US_BUSINESS,
            utc(2026, 3, 11, 12),
            False,
        ),
        (
            "a policy without the KEV rule ignores the date",
            date(2026, 3, 5),
            False,
            US_BUSINESS,
            utc(2026, 3, 11, 12),
            False,
        ),
        (
            "a KEV date already past makes the clock due at its start",
            date(2026, 2, 1),
            True,
            US_BUSINESS,
            START,
            True,
        ),
    ],
)
def test_kev_cap(label, kev_due_date, kev_caps, cal, expected, capped):
    assert clock.due(START, 7, cal, kev_due_date=kev_due_date, kev_caps=kev_caps) == (
        expected,
        capped,
    ), label


@pytest.mark.parametrize(
    ("window", "percent", "expected"),
    [
        (timedelta(seconds=100), 70, timedelta(seconds=70)),
        (timedelta(days=10), 70, timedelta(days=7)),
        (timedelta(microseconds=10), 70, timedelta(microseconds=7)),
        # Floored to the microsecond: never later than the exact share.
        (timedelta(microseconds=3), 70, timedelta(microseconds=2)),
        (timedelta(0), 70, timedelta(0)),
        (timedelta(days=1), 1, timedelta(minutes=14, seconds=24)),
        (timedelta(days=1), 99, timedelta(hours=23, minutes=45, seconds=36)),
    ],
)
def test_at_risk_share_of_the_window(window, percent, expected):
    assert clock.at_risk(START, START + window, percent) == START + expected


@pytest.mark.parametrize("percent", [0, 100, -5])
def test_at_risk_percent_outside_1_to_99_is_refused(percent):
    with pytest.raises(ClockError):
        clock.at_risk(START, START + timedelta(days=1), percent)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: clock.add_days(START, -1, US_BUSINESS), "negative"),
        (
            lambda: clock.add_days(START, 1, Calendar("business", "Mars/Olympus")),
            "zone",
        ),
        (lambda: clock.holiday_calendar("XX"), "country"),
        (lambda: clock.holiday_calendar("US", "ZZ"), "subdivision"),
        (
            lambda: clock.add_days(datetime(2026, 3, 2), 1, US_BUSINESS),  # noqa: DTZ001
            "time zone",
        ),
        (lambda: clock.check_calendar(Calendar("fortnights")), "day kind"),
    ],
)
def test_bad_policy_values_are_refused(call, message):
    with pytest.raises(ClockError, match=message):
        call()


# --- properties ---------------------------------------------------------------

ZONES = ["UTC", "America/New_York", "Europe/Berlin", "Australia/Sydney", "Asia/Kolkata"]
COUNTRIES = ["", "US", "DE", "GB"]

starts = st.datetimes(
    min_value=datetime(2020, 1, 1),  # noqa: DTZ001
    max_value=datetime(2030, 12, 31),  # noqa: DTZ001
    timezones=st.just(UTC),
)
calendars = st.builds(
    Calendar,
    day_kind=st.sampled_from(["business", "calendar"]),
    time_zone=st.sampled_from(ZONES),
    holiday_country=st.sampled_from(COUNTRIES),
)
fast = settings(
    max_examples=300,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@fast
@given(
    start=starts,
    days=st.integers(min_value=1, max_value=60),
    cal=calendars,
    kev=st.one_of(st.none(), st.dates(date(2019, 1, 1), date(2031, 12, 31))),
    percent=st.integers(min_value=1, max_value=99),
)
def test_due_is_never_before_the_start(start, days, cal, kev, percent):
    due, _ = clock.due(start, days, cal, kev_due_date=kev, kev_caps=True)
    assert due >= start
    risk = clock.at_risk(start, due, percent)
    assert start <= risk <= due


def _off(day: date, cal: Calendar) -> bool:
    if day.weekday() >= 5:
        return True
    return bool(cal.holiday_country) and day in holidays.country_holidays(
        cal.holiday_country, years=day.year
    )


@fast
@given(
    start=starts,
    days=st.integers(min_value=1, max_value=60),
    zone=st.sampled_from(ZONES),
    country=st.sampled_from(COUNTRIES),
)
def test_business_days_between_start_and_due_equal_the_policy_days(
    start, days, zone, country
):
    cal = Calendar("business", zone, country)
    due = clock.add_days(start, days, cal)
    tz = ZoneInfo(zone)
    first = start.astimezone(tz).date()
    while _off(first, cal):
        first += timedelta(days=1)
    last = due.astimezone(tz).date()
    counted = sum(
        1
        for n in range((last - first).days)
        if not _off(first + timedelta(days=n), cal)
    )
    assert counted == days
    assert not _off(last, cal)


@fast
@given(
    start=starts,
    days=st.integers(min_value=0, max_value=400),
    zone=st.sampled_from(ZONES),
)
def test_calendar_days_land_on_the_local_date_n_days_later(start, days, zone):
    tz = ZoneInfo(zone)
    due = clock.add_days(start, days, Calendar("calendar", zone))
    assert due.astimezone(tz).date() == start.astimezone(tz).date() + timedelta(
        days=days
    )
