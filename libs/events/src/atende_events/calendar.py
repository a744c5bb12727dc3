"""Business calendars and the arithmetic of business time on them.

Every moment going in and out is timezone-aware; the arithmetic runs on UTC instants, because
Python subtracts two datetimes of the same zone by wall time, which is wrong across a DST change.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays

MINUTES_PER_DAY = 24 * 60
_MAX_DAYS = 366 * 10
"""How far the arithmetic looks before it decides a calendar never opens."""

Span = tuple[datetime, datetime]
OpenSpan = tuple[datetime, datetime | None]
"""A pause: when it began and, once it is over, when it ended."""


@dataclass(frozen=True)
class Calendar:
    """When business time runs: opening hours per weekday in a zone, minus closed dates."""

    id: str
    zone: ZoneInfo
    hours: Mapping[int, tuple[tuple[int, int], ...]]
    """Open minute ranges [from, to) per weekday (0 = Monday); 24x7 is every day 0-1440."""
    closed: frozenset[date] = field(default_factory=frozenset)
    """Holidays and extra closed dates, in the calendar's zone."""
    description: str = ""
    _spans: dict[date, tuple[Span, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    """Open spans already worked out, by day: zone arithmetic is most of a clock's start."""

    def is_business_day(self, day: date) -> bool:
        """Tell whether the day has any open time."""
        return day not in self.closed and bool(self.hours.get(day.weekday()))

    def open_spans(self, day: date) -> tuple[Span, ...]:
        """Give the day's open spans as UTC instants."""
        spans = self._spans.get(day)
        if spans is None:
            spans = self._spans[day] = (
                tuple(
                    (self._instant(day, start), self._instant(day, end))
                    for start, end in self.hours[day.weekday()]
                )
                if self.is_business_day(day)
                else ()
            )
        return spans

    def local_date(self, moment: datetime) -> date:
        """Give the calendar date of a moment in the calendar's zone."""
        return moment.astimezone(self.zone).date()

    def _instant(self, day: date, minute: int) -> datetime:
        day = day + timedelta(days=minute // MINUTES_PER_DAY)
        minute %= MINUTES_PER_DAY
        local = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=self.zone)
        return local.astimezone(UTC)


def build_calendar(
    *,
    id: str,
    zone: str = "America/Sao_Paulo",
    hours: Mapping[int, Sequence[tuple[int, int]]],
    country: str | None = "BR",
    subdivision: str | None = None,
    optional_holidays: Iterable[str] = (),
    extra_closed: Iterable[date] = (),
    years: range = range(2015, 2046),
    description: str = "",
) -> Calendar:
    """Build a calendar, taking public (and chosen optional) holidays from the holidays library."""
    closed = set(extra_closed)
    if country is not None:
        public = holidays.country_holidays(
            country, subdiv=subdivision, years=years, language="en_US"
        )
        closed.update(public.keys())
        wanted = set(optional_holidays)
        if wanted:
            optional = holidays.country_holidays(
                country,
                subdiv=subdivision,
                years=years,
                categories=("optional",),
                language="en_US",
            )
            closed.update(day for day, name in optional.items() if set(name.split("; ")) & wanted)
    for weekday, spans in hours.items():
        for start, end in spans:
            if not (0 <= weekday <= 6 and 0 <= start < end <= MINUTES_PER_DAY):
                raise ValueError(f"calendar {id}: bad opening hours {start}-{end} on day {weekday}")
    if not any(hours.values()):
        raise ValueError(f"calendar {id} is never open")
    return Calendar(
        id=id,
        zone=ZoneInfo(zone),
        hours={day: tuple(sorted(spans)) for day, spans in hours.items()},
        closed=frozenset(closed),
        description=description,
    )


CARNIVAL = "Carnival"
"""The holidays library's name for Carnaval Monday and Tuesday, an optional closure in Brazil."""


@dataclass(frozen=True)
class OperatorHolidays:
    """Where the operator is and which optional days it closes on; the same in every service.

    By default only national holidays close a business day (Lei 662/1949 and Lei 10.607/2002 list
    them). The operator's state (`subdivision`, a UF such as "SP") adds its holidays, and
    `closed_dates` its municipality's ("MM-DD" every year, or "YYYY-MM-DD" once). Carnaval is no
    holiday in federal law (a "ponto facultativo"), so it is a business day for regulatory
    counting unless the operator closes on it (`closes_carnival`).
    """

    subdivision: str | None = None
    closed_dates: tuple[str, ...] = ()
    closes_carnival: bool = False

    def closed_days(self, years: range) -> frozenset[date]:
        """Give the municipal and other extra closed dates over the years."""
        days: set[date] = set()
        for entry in self.closed_dates:
            if len(entry) == len("MM-DD"):
                month, day = (int(part) for part in entry.split("-"))
                days.update(date(year, month, day) for year in years)
            else:
                days.add(date.fromisoformat(entry))
        return frozenset(days)


def parse_closed_date(entry: str) -> str:
    """Check an extra closed date, "MM-DD" (every year) or "YYYY-MM-DD"; raise ValueError."""
    try:
        if len(entry) == len("MM-DD"):
            month, day = (int(part) for part in entry.split("-"))
            date(2024, month, day)  # a leap year, so that 02-29 is a date
        else:
            date.fromisoformat(entry)
    except ValueError:
        raise ValueError(f"{entry!r} is neither MM-DD nor YYYY-MM-DD") from None
    return entry


def operator_calendar(
    *,
    id: str,
    holidays_of: OperatorHolidays,
    hours: Mapping[int, Sequence[tuple[int, int]]],
    zone: str = "America/Sao_Paulo",
    years: range = range(2015, 2046),
    description: str = "",
) -> Calendar:
    """Build a Brazilian calendar closed on the operator's holidays (national, state, municipal)."""
    return build_calendar(
        id=id,
        zone=zone,
        hours=hours,
        country="BR",
        subdivision=holidays_of.subdivision,
        optional_holidays=[CARNIVAL] if holidays_of.closes_carnival else [],
        extra_closed=holidays_of.closed_days(years),
        years=years,
        description=description,
    )


def business_day_seconds(calendar: Calendar) -> float:
    """Give the open seconds of the calendar's longest weekday: what one business day holds."""
    return 60.0 * max(sum(end - start for start, end in spans) for spans in calendar.hours.values())


def always_open(id: str = "24x7", zone: str = "America/Sao_Paulo") -> Calendar:
    """Build a calendar that never closes: business time is wall-clock time."""
    return build_calendar(
        id=id, zone=zone, hours={day: [(0, MINUTES_PER_DAY)] for day in range(7)}, country=None
    )


def _open_spans_from(start: datetime, calendar: Calendar) -> Iterator[Span]:
    """Yield the open spans from a moment on, the first one cut at the moment."""
    day = calendar.local_date(start) - timedelta(days=1)  # a span may begin the day before
    for _ in range(_MAX_DAYS):
        for opens, closes in calendar.open_spans(day):
            if closes > start:
                yield max(opens, start), closes
        day += timedelta(days=1)
    raise ValueError(f"calendar {calendar.id} has no open time for {_MAX_DAYS} days")


def _merge(spans: Iterable[Span]) -> list[Span]:
    merged: list[Span] = []
    for begin, end in sorted(spans):
        if end <= begin:
            continue
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((begin, end))
    return merged


def _subtract(span: Span, holes: Sequence[Span]) -> Iterator[Span]:
    """Yield the parts of a span outside the (merged, sorted) holes."""
    begin, end = span
    for hole_begin, hole_end in holes:
        if hole_end <= begin or hole_begin >= end:
            continue
        if hole_begin > begin:
            yield begin, hole_begin
        begin = max(begin, hole_end)
        if begin >= end:
            return
    if begin < end:
        yield begin, end


def close_pauses(paused: Iterable[OpenSpan], now: datetime) -> list[Span]:
    """Give pauses as closed spans, a pause still under way ending now."""
    return [(begin, end if end is not None else max(begin, now)) for begin, end in paused]


def add_business_time(
    start: datetime,
    duration: timedelta,
    calendar: Calendar,
    paused: Iterable[Span] = (),
) -> datetime:
    """Return the moment at which `duration` of business time has run since `start`."""
    if duration < timedelta(0):
        raise ValueError("a duration of business time cannot be negative")
    start = start.astimezone(UTC)
    if duration == timedelta(0):
        return start
    holes = _merge((b.astimezone(UTC), e.astimezone(UTC)) for b, e in paused)
    left = duration
    for span in _open_spans_from(start, calendar):
        for begin, end in _subtract(span, holes):
            if end - begin >= left:
                return begin + left
            left -= end - begin
    raise AssertionError("unreachable: _open_spans_from raises first")  # pragma: no cover


def business_time_between(
    start: datetime,
    end: datetime,
    calendar: Calendar,
    paused: Iterable[Span] = (),
) -> timedelta:
    """Measure the business time from start to end, leaving out the paused spans."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        return timedelta(0)
    holes = _merge((b.astimezone(UTC), e.astimezone(UTC)) for b, e in paused)
    total = timedelta(0)
    for opens, closes in _open_spans_from(start, calendar):
        if opens >= end:
            break
        for begin, stop in _subtract((opens, min(closes, end)), holes):
            total += stop - begin
    return total


def end_of_business_days(received: datetime, days: int, calendar: Calendar) -> datetime:
    """Return the close of the Nth business day after the day of receipt.

    Regulatory deadlines "in business days" are counted as the Brazilian Civil Procedure Code
    counts them (Lei 13.105/2015, art. 219 and art. 224): the day of receipt is left out, only
    business days count, and the deadline runs to the end of the last one. So a request received
    on a Friday evening or a Saturday with 5 business days is due at the close of the next Friday.
    On a calendar of business hours the end is the last closing time of that day.
    """
    if days < 1:
        raise ValueError("a deadline in business days counts at least one day")
    day = calendar.local_date(received)
    counted = 0
    for _ in range(_MAX_DAYS):
        day += timedelta(days=1)
        if calendar.is_business_day(day):
            counted += 1
            if counted == days:
                return calendar.open_spans(day)[-1][1]
    raise ValueError(f"calendar {calendar.id} has no {days} business days within {_MAX_DAYS} days")
