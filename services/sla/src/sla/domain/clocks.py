"""What happens next to a clock, given what is known of its interaction: pure decisions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from atende_events.calendar import OpenSpan, Span, business_time_between, close_pauses
from sla.domain.policies import ClockState, Policy, Schedule, outcome, schedule, stops


@dataclass(frozen=True)
class Stopped:
    """The interaction was accepted or answered: the clock is met or breached, once."""

    verdict: ClockState
    elapsed: timedelta
    at: datetime


@dataclass(frozen=True)
class Paused:
    """The interaction waits for the customer: the clock stops counting."""

    elapsed: timedelta
    at: datetime


@dataclass(frozen=True)
class Running:
    """The clock counts with this schedule; `resumed_at` is set when it was paused until then."""

    schedule: Schedule
    resumed_at: datetime | None = None


Step = Stopped | Paused | Running


@dataclass(frozen=True)
class Progress:
    """What is known of an interaction that moves its clocks."""

    first_accepted_at: datetime | None = None
    completed_at: datetime | None = None
    answered_at: datetime | None = None
    pauses: Sequence[OpenSpan] = ()


def closed_pauses(pauses: Sequence[OpenSpan]) -> list[Span]:
    """Keep the pauses that are over."""
    return [(begin, end) for begin, end in pauses if end is not None]


def next_step(
    policy: Policy,
    *,
    state: ClockState,
    started_at: datetime,
    budget: timedelta,
    progress: Progress,
) -> Step | None:
    """Decide what an open clock does now; None when nothing changes."""
    stopped_at = stops(
        policy.kind,
        policy.clock_type,
        first_accepted_at=progress.first_accepted_at,
        completed_at=progress.completed_at,
        answered_at=progress.answered_at,
    )
    if stopped_at is not None:
        spans = close_pauses(progress.pauses, stopped_at) if policy.pauses else []
        elapsed = business_time_between(started_at, stopped_at, policy.calendar, spans)
        return Stopped(verdict=outcome(elapsed, budget), elapsed=elapsed, at=stopped_at)
    if not policy.pauses:
        return None
    closed = closed_pauses(progress.pauses)
    waiting_since = next((begin for begin, end in progress.pauses if end is None), None)
    if waiting_since is not None:
        if state is ClockState.PAUSED:
            return None
        elapsed = business_time_between(started_at, waiting_since, policy.calendar, closed)
        return Paused(elapsed=elapsed, at=waiting_since)
    timing = schedule(
        started_at=started_at,
        budget=budget,
        warn_at_fraction=policy.warn_at_fraction,
        calendar=policy.calendar,
        paused=closed,
    )
    resumed_at = max(end for _, end in closed) if state is ClockState.PAUSED and closed else None
    return Running(schedule=timing, resumed_at=resumed_at)


def time_used(
    policy: Policy | None,
    *,
    state: ClockState,
    started_at: datetime,
    recorded: timedelta,
    pauses: Sequence[OpenSpan],
    now: datetime,
) -> timedelta:
    """Measure the business time a clock has used by `now` (as recorded once it is not running)."""
    if state is not ClockState.RUNNING or policy is None:
        return recorded
    spans = close_pauses(pauses, now) if policy.pauses else []
    return business_time_between(started_at, now, policy.calendar, spans)
