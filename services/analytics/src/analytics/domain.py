"""Pure KPI arithmetic: rates, NPS, the business calendar and the parameters of a KPI request.

The definitions are DESIGN.md section 6. "Resolved within 2 business days" is counted on
Mon-Fri 08:00-18:00 in the operator's zone minus the operator's holidays, with the calendar
implementation sla uses (`atende_events.calendar`) and the same holiday settings.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from atende_events.calendar import (
    Calendar,
    OperatorHolidays,
    business_day_seconds,
    business_time_between,
    operator_calendar,
)

GROUPS = ("channel", "queue", "party_kind", "agent", "day")
"""The dimensions a KPI request may group by, in the order keys and CSV columns show them."""

BUSINESS_DAYS_TO_RESOLVE = 2


@dataclass(frozen=True)
class NpsCounts:
    """How many answers fell in each NPS category."""

    promoters: int = 0
    passives: int = 0
    detractors: int = 0

    @property
    def responses(self) -> int:
        """Count every answer."""
        return self.promoters + self.passives + self.detractors


def nps(counts: NpsCounts) -> float | None:
    """Give 100 x (promoters - detractors) / responses, or None without responses."""
    if counts.responses == 0:
        return None
    return 100.0 * (counts.promoters - counts.detractors) / counts.responses


def share(part: int, whole: int) -> float | None:
    """Give part / whole, or None when there is nothing to divide by."""
    if whole == 0:
        return None
    return part / whole


def per_hour(count: int, seconds: float) -> float | None:
    """Give a count per hour of the given time, or None without time."""
    if seconds <= 0:
        return None
    return count * 3600.0 / seconds


BUSINESS_HOURS: dict[int, list[tuple[int, int]]] = {
    weekday: [(8 * 60, 18 * 60)] for weekday in range(5)
}
"""Monday to Friday 08:00-18:00: the back office's hours, sla's `horario-comercial`."""


def business_calendar(
    time_zone: str = "America/Sao_Paulo", holidays_of: OperatorHolidays | None = None
) -> Calendar:
    """Build the business hours on the operator's holidays, as sla builds its calendars."""
    return operator_calendar(
        id="horario-comercial",
        holidays_of=holidays_of or OperatorHolidays(),
        hours=BUSINESS_HOURS,
        zone=time_zone,
    )


def business_seconds(start: datetime, end: datetime, calendar: Calendar) -> float:
    """Count the business seconds between two aware moments (0 when end is not after start)."""
    return business_time_between(start, end, calendar).total_seconds()


def within_business_days(seconds: float, days: int, calendar: Calendar) -> bool:
    """Tell whether a business duration is at most the given number of business days."""
    return seconds <= days * business_day_seconds(calendar)


def parse_groups(values: Iterable[str]) -> tuple[str, ...]:
    """Read group_by values (repeated or comma separated) into known dimensions, in GROUPS order.

    Raises ValueError naming the unknown ones.
    """
    asked = {part.strip() for value in values for part in value.split(",") if part.strip()}
    unknown = sorted(asked - set(GROUPS))
    if unknown:
        raise ValueError(
            f"unknown group(s) {', '.join(unknown)}; group by any of {', '.join(GROUPS)}"
        )
    return tuple(group for group in GROUPS if group in asked)


def period_bounds(
    first: date, last: date, *, zone: ZoneInfo, max_days: int
) -> tuple[datetime, datetime]:
    """Turn inclusive local days into a half-open UTC range [start, end).

    Raises ValueError when the days are reversed or span more than max_days.
    """
    if first > last:
        raise ValueError(f"from ({first}) is after to ({last})")
    days = (last - first).days + 1
    if days > max_days:
        raise ValueError(f"the range spans {days} days; at most {max_days} are allowed")
    start = datetime.combine(first, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return start, end


@dataclass(frozen=True)
class StatusChange:
    """An agent's status from a moment on."""

    at: datetime
    status: str


STAFFED_STATUSES = frozenset({"available", "away"})
"""Statuses in which an agent is logged in and counts as staffed time."""


def staffed_seconds(
    changes: Sequence[StatusChange],
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    zone: ZoneInfo,
    by_day: bool,
) -> Mapping[date | None, float]:
    """Sum one agent's logged-in time within [start, min(end, now)), per local day when asked.

    `changes` may include the last change before start (the status in force at start).
    """
    stop = min(end, now)
    ordered = sorted(changes, key=lambda change: change.at)
    totals: dict[date | None, float] = {}
    followers: list[StatusChange | None] = [*ordered[1:], None]
    for current, following in zip(ordered, followers, strict=False):
        if current.status not in STAFFED_STATUSES:
            continue
        span_start = max(current.at, start)
        span_end = min(following.at if following is not None else stop, stop)
        if span_end <= span_start:
            continue
        if not by_day:
            totals[None] = totals.get(None, 0.0) + (span_end - span_start).total_seconds()
            continue
        cursor = span_start
        while cursor < span_end:
            local_day = cursor.astimezone(zone).date()
            midnight = datetime.combine(local_day + timedelta(days=1), time(0), tzinfo=zone)
            piece_end = min(midnight.astimezone(UTC), span_end)
            totals[local_day] = totals.get(local_day, 0.0) + (piece_end - cursor).total_seconds()
            cursor = piece_end
    return totals


def top_drivers(counts: Mapping[str, int], limit: int = 5) -> list[tuple[str, int]]:
    """Rank driver themes by count, then by name, keeping the first `limit`."""
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]


MEASURES = (
    "volume inbound repeat_contacts escalations completed resolved fcr_count handle_sum handle_n "
    "resolved_timed within_2bd first_instance_resolved accepted wait_sum wait_n sl_eligible "
    "sl_met clocks_closed regulatory_closed regulatory_met operational_closed operational_met "
    "answers promoters passives detractors csat_answers csat_sum csat_satisfied dispatched "
    "followups_opened followups_closed"
).split()
"""What one interaction adds to a KPI rollup row: counts, and exact (Decimal) sums of seconds."""

PRESENCE = (
    "volume completed accepted clocks_closed answers dispatched followups_opened followups_closed"
).split()
"""One row of any KPI family: a group exists where one of these is not zero."""

Number = int | Decimal
RollupKey = tuple[date, str | None, str | None, str | None, str | None]
"""(local day, channel, queue, party_kind, agent)."""


@dataclass(frozen=True)
class Contribution:
    """What one interaction adds to one rollup row: the row's key and a value per measure."""

    interaction_id: Hashable
    key: RollupKey
    measures: tuple[Number, ...]


def _add(
    into: dict[RollupKey, list[Number]], key: RollupKey, values: Sequence[Number], sign: int
) -> None:
    total = into.setdefault(key, [0] * len(values))
    for n, value in enumerate(values):
        total[n] += sign * value


def rollup_deltas(
    counted: Iterable[Contribution], current: Iterable[Contribution]
) -> dict[RollupKey, tuple[Number, ...]]:
    """Give what each rollup row gains when the counted contributions give way to the current.

    Rows whose every measure nets to zero are left out: nothing to write.
    """
    totals: dict[RollupKey, list[Number]] = {}
    for contribution in counted:
        _add(totals, contribution.key, contribution.measures, -1)
    for contribution in current:
        _add(totals, contribution.key, contribution.measures, +1)
    return {key: tuple(values) for key, values in totals.items() if any(values)}


def without_agent(
    deltas: Mapping[RollupKey, Sequence[Number]],
) -> dict[tuple[date, str | None, str | None, str | None], tuple[Number, ...]]:
    """Fold deltas keyed by agent into the rollup that has no agent dimension."""
    totals: dict[Any, list[Number]] = {}
    for (day, channel, queue, party_kind, _agent), values in deltas.items():
        _add(totals, (day, channel, queue, party_kind, None), values, +1)
    return {key[:4]: tuple(values) for key, values in totals.items() if any(values)}


def recounted(counted: Iterable[Contribution], current: Iterable[Contribution]) -> set[Hashable]:
    """Name the interactions whose current contributions differ from the counted ones."""
    before: dict[Hashable, list[tuple[RollupKey, tuple[Number, ...]]]] = defaultdict(list)
    after: dict[Hashable, list[tuple[RollupKey, tuple[Number, ...]]]] = defaultdict(list)
    for contribution in counted:
        before[contribution.interaction_id].append((contribution.key, contribution.measures))
    for contribution in current:
        after[contribution.interaction_id].append((contribution.key, contribution.measures))
    return {
        interaction
        for interaction in before.keys() | after.keys()
        if sorted(before[interaction], key=_order) != sorted(after[interaction], key=_order)
    }


def changed_details(
    counted: Iterable[Sequence[Any]], current: Iterable[Sequence[Any]]
) -> set[Hashable]:
    """Name the interactions (first field of each row) whose detail rows are not the same."""
    before: dict[Hashable, list[tuple[Any, ...]]] = defaultdict(list)
    after: dict[Hashable, list[tuple[Any, ...]]] = defaultdict(list)
    for row in counted:
        before[row[0]].append(tuple((value is None, value) for value in row[1:]))
    for row in current:
        after[row[0]].append(tuple((value is None, value) for value in row[1:]))
    return {
        interaction
        for interaction in before.keys() | after.keys()
        if sorted(before[interaction], key=str) != sorted(after[interaction], key=str)
    }


def _order(item: tuple[RollupKey, tuple[Number, ...]]) -> tuple[Any, ...]:
    return tuple((value is None, value if value is not None else "") for value in item[0])


_COUNTS = [name for name in MEASURES if not name.endswith("_sum")]


def rollup_facts(row: Mapping[Any, Any]) -> dict[str, Any]:
    """Turn summed rollup measures into the counts and means the KPI report is built from."""

    def mean(total: str, count: str) -> Decimal | None:
        return Decimal(row[total]) / row[count] if row[count] else None

    return {
        **{name: int(row[name]) for name in _COUNTS},
        "aht_seconds": mean("handle_sum", "handle_n"),
        "asa_seconds": mean("wait_sum", "wait_n"),
        "csat_mean": mean("csat_sum", "csat_answers"),
        "sla": {
            "regulatory": (int(row["regulatory_closed"]), int(row["regulatory_met"])),
            "operational": (int(row["operational_closed"]), int(row["operational_met"])),
        },
    }
