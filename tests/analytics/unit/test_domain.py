"""The KPI arithmetic, the small business calendar and the request parameters."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from analytics import domain
from analytics.domain import NpsCounts, StatusChange

SP = ZoneInfo("America/Sao_Paulo")
CALENDAR = domain.business_calendar("America/Sao_Paulo")
HOUR = 3600.0


def local(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in Sao Paulo."""
    return datetime(year, month, day, hour, minute, tzinfo=SP)


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        (NpsCounts(promoters=52, passives=31, detractors=17), 35.0),  # seed 000
        (NpsCounts(promoters=1, passives=0, detractors=2), -100 / 3),
        (NpsCounts(promoters=10), 100.0),
        (NpsCounts(detractors=4), -100.0),
        (NpsCounts(passives=7), 0.0),
        (NpsCounts(), None),
    ],
)
def test_nps_is_promoters_minus_detractors_over_responses(
    counts: NpsCounts, expected: float | None
) -> None:
    assert domain.nps(counts) == (None if expected is None else pytest.approx(expected))


@pytest.mark.parametrize(
    ("part", "whole", "expected"),
    [(3, 4, 0.75), (0, 5, 0.0), (5, 5, 1.0), (0, 0, None), (2, 0, None)],
)
def test_share_is_none_without_a_denominator(part: int, whole: int, expected: float | None) -> None:
    assert domain.share(part, whole) == expected


@pytest.mark.parametrize(
    ("count", "seconds", "expected"),
    [(3, 8 * HOUR, 0.375), (0, HOUR, 0.0), (4, 0.0, None)],
)
def test_contacts_per_hour(count: int, seconds: float, expected: float | None) -> None:
    assert domain.per_hour(count, seconds) == expected


@pytest.mark.parametrize(
    ("start", "end", "hours"),
    [
        # Same morning, Monday 2025-03-10.
        (local(2025, 3, 10, 9), local(2025, 3, 10, 9, 5), 5 / 60),
        # Before opening and after closing count nothing.
        (local(2025, 3, 10, 6), local(2025, 3, 10, 20), 10.0),
        # Monday 22:30 to Thursday 17:30: Tue 10 + Wed 10 + Thu 9.5.
        (local(2025, 3, 10, 22, 30), local(2025, 3, 13, 17, 30), 29.5),
        # Friday 17:00 to Monday 09:00 skips the weekend.
        (local(2025, 3, 14, 17), local(2025, 3, 17, 9), 2.0),
        # Good Friday (2025-04-18) and Tiradentes (Monday 2025-04-21) are national holidays.
        (local(2025, 4, 17, 17), local(2025, 4, 22, 9), 2.0),
        # Christmas day is closed.
        (local(2025, 12, 24, 17), local(2025, 12, 26, 9), 2.0),
        # Reversed or empty spans count nothing.
        (local(2025, 3, 10, 12), local(2025, 3, 10, 11), 0.0),
        # UTC input: 12:00Z is 09:00 in Sao Paulo.
        (
            datetime(2025, 3, 10, 12, tzinfo=UTC),
            datetime(2025, 3, 10, 13, tzinfo=UTC),
            1.0,
        ),
    ],
)
def test_business_seconds_count_weekday_hours_outside_holidays(
    start: datetime, end: datetime, hours: float
) -> None:
    assert domain.business_seconds(start, end, CALENDAR) == pytest.approx(hours * HOUR)


@pytest.mark.parametrize(
    ("hours", "within"),
    [(0.0, True), (19.5, True), (20.0, True), (20.01, False), (29.5, False)],
)
def test_two_business_days_are_twenty_business_hours(hours: float, within: bool) -> None:
    assert domain.within_business_days(hours * HOUR, 2, CALENDAR) is within


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], ()),
        (["channel"], ("channel",)),
        (["day,channel"], ("channel", "day")),
        (["agent", "queue, party_kind"], ("queue", "party_kind", "agent")),
        (["channel", "channel"], ("channel",)),
        ([","], ()),
    ],
)
def test_groups_come_repeated_or_comma_separated(
    values: list[str], expected: tuple[str, ...]
) -> None:
    assert domain.parse_groups(values) == expected


@pytest.mark.parametrize("values", [["colour"], ["channel,week"], ["Channel"]])
def test_unknown_groups_are_refused(values: list[str]) -> None:
    with pytest.raises(ValueError, match="unknown group"):
        domain.parse_groups(values)


@pytest.mark.parametrize(
    ("first", "last", "start", "end"),
    [
        (
            date(2025, 3, 10),
            date(2025, 3, 16),
            datetime(2025, 3, 10, 3, tzinfo=UTC),
            datetime(2025, 3, 17, 3, tzinfo=UTC),
        ),
        (
            date(2025, 3, 10),
            date(2025, 3, 10),
            datetime(2025, 3, 10, 3, tzinfo=UTC),
            datetime(2025, 3, 11, 3, tzinfo=UTC),
        ),
    ],
)
def test_a_period_is_local_days_from_midnight_to_midnight(
    first: date, last: date, start: datetime, end: datetime
) -> None:
    assert domain.period_bounds(first, last, zone=SP, max_days=31) == (start, end)


@pytest.mark.parametrize(
    ("first", "last", "message"),
    [
        (date(2025, 3, 16), date(2025, 3, 10), "after"),
        (date(2025, 1, 1), date(2025, 3, 1), "at most 31"),
    ],
)
def test_a_reversed_or_too_long_period_is_refused(first: date, last: date, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        domain.period_bounds(first, last, zone=SP, max_days=31)


START = datetime(2025, 3, 10, 3, tzinfo=UTC)  # Monday 00:00 in Sao Paulo
END = datetime(2025, 3, 12, 3, tzinfo=UTC)  # Wednesday 00:00
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def change(day: int, hour: int, status: str) -> StatusChange:
    return StatusChange(at=datetime(2025, 3, day, hour, tzinfo=UTC), status=status)


@pytest.mark.parametrize(
    ("changes", "by_day", "expected"),
    [
        ([], False, {}),
        ([change(10, 11, "available"), change(10, 19, "offline")], False, {None: 8 * HOUR}),
        # Away is logged in too.
        (
            [change(10, 11, "available"), change(10, 13, "away"), change(10, 15, "offline")],
            False,
            {None: 4 * HOUR},
        ),
        # The status in force before the period counts from the start.
        ([change(9, 20, "available"), change(10, 5, "offline")], False, {None: 2 * HOUR}),
        # Still logged in at the end: counted up to the end.
        ([change(11, 23, "available")], False, {None: 4 * HOUR}),
        # Across local midnight (Tuesday 03:00Z): split per local day.
        (
            [change(11, 1, "available"), change(11, 5, "offline")],
            True,
            {date(2025, 3, 10): 2 * HOUR, date(2025, 3, 11): 2 * HOUR},
        ),
        # Out of order input gives the same answer.
        ([change(10, 19, "offline"), change(10, 11, "available")], False, {None: 8 * HOUR}),
    ],
)
def test_staffed_seconds_sum_logged_in_time_within_the_period(
    changes: list[StatusChange], by_day: bool, expected: dict[date | None, float]
) -> None:
    assert (
        domain.staffed_seconds(changes, start=START, end=END, now=NOW, zone=SP, by_day=by_day)
        == expected
    )


def test_staffed_seconds_stop_at_now() -> None:
    now = datetime(2025, 3, 10, 13, tzinfo=UTC)
    changes = [change(10, 11, "available")]

    seconds = domain.staffed_seconds(changes, start=START, end=END, now=now, zone=SP, by_day=False)

    assert seconds == {None: 2 * HOUR}


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ({}, []),
        ({"wait_time": 2, "courtesy": 1}, [("wait_time", 2), ("courtesy", 1)]),
        ({"b": 1, "a": 1, "c": 3}, [("c", 3), ("a", 1), ("b", 1)]),
        ({str(n): n for n in range(10)}, [("9", 9), ("8", 8), ("7", 7), ("6", 6), ("5", 5)]),
    ],
)
def test_top_drivers_rank_by_count_then_name(
    counts: dict[str, int], expected: list[tuple[str, int]]
) -> None:
    assert domain.top_drivers(counts) == expected
