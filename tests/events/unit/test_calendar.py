"""Business-time arithmetic on business calendars: tables of cases, then properties."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atende_events.calendar import (
    Calendar,
    Span,
    add_business_time,
    always_open,
    build_calendar,
    business_time_between,
    end_of_business_days,
)

SP = ZoneInfo("America/Sao_Paulo")
WEEKDAYS = range(5)
BUSINESS_HOURS = build_calendar(
    id="hours",
    hours={day: [(8 * 60, 18 * 60)] for day in WEEKDAYS},
    subdivision="SP",
    optional_holidays=["Carnival"],
)
BUSINESS_DAYS = build_calendar(
    id="days",
    hours={day: [(0, 24 * 60)] for day in WEEKDAYS},
    subdivision="SP",
    optional_holidays=["Carnival"],
)
NIGHT_SHIFT = build_calendar(
    id="night",
    hours={0: [(22 * 60, 24 * 60)], 1: [(0, 6 * 60)]},
    country=None,
)
NEW_YORK_24X7 = always_open("ny", zone="America/New_York")
ALWAYS = always_open()


def sp(text: str) -> datetime:
    """A Sao Paulo wall-clock moment, e.g. '2026-11-23 10:00'."""
    return datetime.fromisoformat(text).replace(tzinfo=SP)


@pytest.mark.parametrize(
    ("start", "hours", "calendar", "expected"),
    [
        ("2026-11-23 10:00", 2, BUSINESS_HOURS, "2026-11-23 12:00"),  # within one day
        ("2026-11-23 08:00", 10, BUSINESS_HOURS, "2026-11-23 18:00"),  # exactly to closing
        ("2026-11-23 17:00", 2, BUSINESS_HOURS, "2026-11-24 09:00"),  # overnight
        ("2026-11-23 06:00", 1, BUSINESS_HOURS, "2026-11-23 09:00"),  # before opening
        ("2026-11-27 17:00", 2, BUSINESS_HOURS, "2026-11-30 09:00"),  # over the weekend
        ("2026-11-28 10:00", 1, BUSINESS_HOURS, "2026-11-30 09:00"),  # received on a Saturday
        ("2026-11-19 17:00", 2, BUSINESS_HOURS, "2026-11-23 09:00"),  # Black Awareness Day
        ("2026-02-13 17:00", 2, BUSINESS_HOURS, "2026-02-18 09:00"),  # Carnaval Mon and Tue
        ("2026-04-20 17:00", 2, BUSINESS_HOURS, "2026-04-22 09:00"),  # Tiradentes (Tue)
        ("2026-12-24 17:00", 2, BUSINESS_HOURS, "2026-12-28 09:00"),  # Christmas (Fri)
        ("2026-07-08 17:00", 2, BUSINESS_HOURS, "2026-07-10 09:00"),  # 9 July, SP state
        ("2026-11-28 10:00", 0, BUSINESS_HOURS, "2026-11-28 10:00"),  # nothing to add
        ("2026-11-27 23:00", 30, ALWAYS, "2026-11-29 05:00"),  # 24x7 is wall-clock time
        ("2026-11-23 23:00", 2, NIGHT_SHIFT, "2026-11-24 01:00"),  # an overnight shift
        ("2026-11-24 05:00", 2, NIGHT_SHIFT, "2026-11-30 23:00"),  # next shift a week later
        ("2026-11-23 10:00", 24, BUSINESS_DAYS, "2026-11-24 10:00"),
        ("2026-12-31 12:00", 12, BUSINESS_DAYS, "2027-01-01 00:00"),  # at the close, not Jan 4
        ("2026-12-31 12:00", 13, BUSINESS_DAYS, "2027-01-04 01:00"),  # over New Year's Day
    ],
)
def test_add_business_time(start: str, hours: float, calendar: Calendar, expected: str) -> None:
    assert add_business_time(sp(start), timedelta(hours=hours), calendar) == sp(expected)


@pytest.mark.parametrize(
    ("start", "end", "paused", "expected_hours"),
    [
        ("2026-11-23 10:00", "2026-11-23 12:00", [], 2),
        ("2026-11-27 17:00", "2026-11-30 09:00", [], 2),
        ("2026-11-28 09:00", "2026-11-29 20:00", [], 0),  # a weekend counts nothing
        ("2026-11-23 10:00", "2026-11-24 10:00", [], 10),
        ("2026-11-23 12:00", "2026-11-23 10:00", [], 0),  # end before start
        ("2026-02-13 17:00", "2026-02-18 09:00", [], 2),  # Carnaval
        ("2026-12-24 08:00", "2026-12-28 18:00", [], 20),  # Christmas Eve open, Christmas not
        ("2026-11-23 10:00", "2026-11-23 16:00", [("2026-11-23 11:00", "2026-11-23 13:00")], 4),
        # a pause over the night only takes the business time it covers
        ("2026-11-23 17:00", "2026-11-24 10:00", [("2026-11-23 17:30", "2026-11-24 09:00")], 1.5),
        # overlapping pauses count once
        (
            "2026-11-23 08:00",
            "2026-11-23 18:00",
            [("2026-11-23 09:00", "2026-11-23 11:00"), ("2026-11-23 10:00", "2026-11-23 12:00")],
            7,
        ),
        # a pause that began before the clock and one after the end change nothing outside
        (
            "2026-11-23 10:00",
            "2026-11-23 12:00",
            [("2026-11-23 07:00", "2026-11-23 11:00"), ("2026-11-23 13:00", "2026-11-23 14:00")],
            1,
        ),
    ],
)
def test_business_time_between(
    start: str, end: str, paused: list[tuple[str, str]], expected_hours: float
) -> None:
    spans = [(sp(begin), sp(stop)) for begin, stop in paused]
    measured = business_time_between(sp(start), sp(end), BUSINESS_HOURS, spans)
    assert measured == timedelta(hours=expected_hours)


def test_add_business_time_skips_paused_spans() -> None:
    paused = [(sp("2026-11-23 11:00"), sp("2026-11-23 12:00"))]
    moment = add_business_time(sp("2026-11-23 10:00"), timedelta(hours=2), BUSINESS_HOURS, paused)
    assert moment == sp("2026-11-23 13:00")


def test_arithmetic_runs_on_elapsed_time_across_a_dst_change() -> None:
    # New York springs forward on 8 March 2026: that day has 23 hours on the wall clock.
    ny = ZoneInfo("America/New_York")
    start = datetime(2026, 3, 7, 12, 0, tzinfo=ny)
    assert add_business_time(start, timedelta(hours=24), NEW_YORK_24X7) == datetime(
        2026, 3, 8, 13, 0, tzinfo=ny
    )
    end = datetime(2026, 3, 8, 12, 0, tzinfo=ny)
    assert business_time_between(start, end, NEW_YORK_24X7) == timedelta(hours=23)


@pytest.mark.parametrize(
    ("received", "days", "calendar", "expected"),
    [
        ("2026-11-23 10:00", 5, BUSINESS_DAYS, "2026-12-01 00:00"),  # Tue..Mon, end of Monday
        ("2026-11-27 21:00", 5, BUSINESS_DAYS, "2026-12-05 00:00"),  # Friday night: next week
        ("2026-11-28 10:00", 5, BUSINESS_DAYS, "2026-12-05 00:00"),  # Saturday: the same
        ("2026-02-11 09:00", 5, BUSINESS_DAYS, "2026-02-21 00:00"),  # over Carnaval
        ("2026-04-17 09:00", 7, BUSINESS_DAYS, "2026-04-30 00:00"),  # over Tiradentes
        ("2026-12-22 09:00", 7, BUSINESS_DAYS, "2027-01-05 00:00"),  # Christmas, New Year
        ("2026-11-23 10:00", 2, BUSINESS_HOURS, "2026-11-25 18:00"),  # ends at closing time
        ("2026-11-28 10:00", 1, ALWAYS, "2026-11-30 00:00"),  # every day counts on 24x7
    ],
)
def test_end_of_business_days(received: str, days: int, calendar: Calendar, expected: str) -> None:
    assert end_of_business_days(sp(received), days, calendar) == sp(expected)


@pytest.mark.parametrize("days", [0, -1])
def test_end_of_business_days_counts_at_least_one_day(days: int) -> None:
    with pytest.raises(ValueError, match="at least one day"):
        end_of_business_days(sp("2026-11-23 10:00"), days, BUSINESS_DAYS)


def test_a_calendar_that_never_opens_is_refused() -> None:
    with pytest.raises(ValueError, match="never open"):
        build_calendar(id="closed", hours={}, country=None)


CALENDARS = st.sampled_from([BUSINESS_HOURS, BUSINESS_DAYS, ALWAYS, NIGHT_SHIFT, NEW_YORK_24X7])
MOMENTS = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)
DURATIONS = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=15))


@st.composite
def pauses(draw: st.DrawFn) -> list[Span]:
    """Draw up to three pauses, possibly overlapping, within a month after 2025."""
    spans = []
    for _ in range(draw(st.integers(0, 3))):
        begin = draw(MOMENTS)
        spans.append((begin, begin + draw(st.timedeltas(timedelta(0), timedelta(days=3)))))
    return spans


@settings(max_examples=300, deadline=None)
@given(start=MOMENTS, duration=DURATIONS, calendar=CALENDARS)
def test_adding_then_measuring_round_trips(
    start: datetime, duration: timedelta, calendar: Calendar
) -> None:
    end = add_business_time(start, duration, calendar)
    assert end >= start
    assert business_time_between(start, end, calendar) == duration


@settings(max_examples=200, deadline=None)
@given(start=MOMENTS, duration=DURATIONS, calendar=CALENDARS, paused=pauses())
def test_adding_then_measuring_round_trips_with_pauses(
    start: datetime, duration: timedelta, calendar: Calendar, paused: list[Span]
) -> None:
    end = add_business_time(start, duration, calendar, paused)
    assert business_time_between(start, end, calendar, paused) == duration
    assert business_time_between(start, end, calendar) >= duration


@settings(max_examples=200, deadline=None)
@given(start=MOMENTS, span=DURATIONS, calendar=CALENDARS)
def test_measuring_then_adding_lands_no_later_than_the_end(
    start: datetime, span: timedelta, calendar: Calendar
) -> None:
    end = start + span
    measured = business_time_between(start, end, calendar)
    landed = add_business_time(start, measured, calendar)
    assert landed <= end
    assert business_time_between(landed, end, calendar) == timedelta(0)


@settings(max_examples=200, deadline=None)
@given(start=MOMENTS, first=DURATIONS, second=DURATIONS, calendar=CALENDARS)
def test_adding_in_two_steps_is_adding_once(
    start: datetime, first: timedelta, second: timedelta, calendar: Calendar
) -> None:
    halfway = add_business_time(start, first, calendar)
    once = add_business_time(start, first + second, calendar)
    assert add_business_time(halfway, second, calendar) == once
