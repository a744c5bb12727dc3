"""SLA policies: which clocks an interaction gets, and the deadlines they keep."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from atende_events.sla import ClockKind, ClockType
from sla.domain.calendar import (
    Calendar,
    Span,
    add_business_time,
    business_time_between,
    end_of_business_days,
)


class ClockState(StrEnum):
    """Where a clock is in its life; met and breached are final."""

    RUNNING = "running"
    PAUSED = "paused"
    MET = "met"
    BREACHED = "breached"


OPEN_STATES = (ClockState.RUNNING, ClockState.PAUSED)


@dataclass(frozen=True)
class Target:
    """A deadline: N business days, or a duration of open time on the calendar."""

    business_days: int | None = None
    duration: timedelta | None = None

    def __post_init__(self) -> None:
        if (self.business_days is None) == (self.duration is None):
            raise ValueError("a target is either business days or a duration, not both")
        if self.business_days is not None and self.business_days < 1:
            raise ValueError("a target in business days counts at least one day")
        if self.duration is not None and self.duration <= timedelta(0):
            raise ValueError("a target duration must be positive")

    def due_at(self, start: datetime, calendar: Calendar) -> datetime:
        """Give the deadline of a clock started at `start`, before any pause."""
        if self.business_days is not None:
            return end_of_business_days(start, self.business_days, calendar)
        assert self.duration is not None
        return add_business_time(start, self.duration, calendar)


@dataclass(frozen=True)
class Criteria:
    """What an interaction must be for a policy to apply; an empty set matches anything."""

    channels: frozenset[str] = frozenset()
    party_kinds: frozenset[str] = frozenset()
    queues: frozenset[str] = frozenset()
    demand_types: frozenset[str] = frozenset()
    priorities: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Policy:
    """One clock an interaction gets when it matches: its target, calendar and pausing."""

    id: str
    kind: ClockKind
    clock_type: ClockType
    target: Target
    calendar: Calendar
    criteria: Criteria
    warn_at_fraction: float = 0.8
    pauses: bool = False
    """True when the clock stops counting while the interaction waits for the customer."""
    extendable_to_business_days: int | None = None
    """The ombudsman's clock may be extended once, by agreement, up to this many business days."""
    source: str = ""

    @property
    def slot(self) -> tuple[ClockKind, ClockType]:
        """Name the clock this policy competes for: one per kind and type per interaction."""
        return self.kind, self.clock_type


@dataclass(frozen=True)
class Facts:
    """What is known of an interaction; None means not known yet (not "absent")."""

    channel: str | None = None
    party_kind: str | None = None
    queue: str | None = None
    demand_type: str | None = None
    priority: str | None = None


@dataclass(frozen=True)
class Matching:
    """The policies that apply, per clock, and the clocks still waiting for facts."""

    policies: tuple[Policy, ...]
    undecided: frozenset[tuple[ClockKind, ClockType]]


def match_policies(facts: Facts, policies: Sequence[Policy]) -> Matching:
    """Choose, per clock, the first policy in order that applies to the interaction.

    A clock is undecided while an earlier policy for it depends on a fact not known yet (the queue
    and an inferred demand type come with `interaction.queued`); it is decided later, when the
    fact arrives, and started as of the receipt all the same.
    """
    chosen: dict[tuple[ClockKind, ClockType], Policy] = {}
    undecided: set[tuple[ClockKind, ClockType]] = set()
    for policy in policies:
        if policy.slot in chosen or policy.slot in undecided:
            continue
        verdict = _applies(policy.criteria, facts)
        if verdict is None:
            undecided.add(policy.slot)
        elif verdict:
            chosen[policy.slot] = policy
    return Matching(policies=tuple(chosen.values()), undecided=frozenset(undecided))


def _applies(criteria: Criteria, facts: Facts) -> bool | None:
    """Tell whether criteria hold; None when a fact they need is not known yet."""
    needed = {
        "channel": criteria.channels,
        "party_kind": criteria.party_kinds,
        "queue": criteria.queues,
        "demand_type": criteria.demand_types,
        "priority": criteria.priorities,
    }
    unknown = False
    for name, allowed in needed.items():
        if not allowed:
            continue
        value = getattr(facts, name)
        if value is None:
            unknown = True
        elif value not in allowed:
            return False
    return None if unknown else True


@dataclass(frozen=True)
class Schedule:
    """When a running clock warns and when it is due, given its pauses so far."""

    warn_at: datetime
    due_at: datetime


def schedule(
    *,
    started_at: datetime,
    budget: timedelta,
    warn_at_fraction: float,
    calendar: Calendar,
    paused: Iterable[Span] = (),
) -> Schedule:
    """Place the warning and the deadline after `budget` of business time, pauses left out."""
    spans = list(paused)
    return Schedule(
        warn_at=add_business_time(started_at, budget * warn_at_fraction, calendar, spans),
        due_at=add_business_time(started_at, budget, calendar, spans),
    )


def budget_of(policy: Policy, started_at: datetime) -> timedelta:
    """Measure the business time a clock of the policy has, from its start to its first deadline."""
    return business_time_between(
        started_at, policy.target.due_at(started_at, policy.calendar), policy.calendar
    )


def outcome(elapsed: timedelta, budget: timedelta) -> ClockState:
    """Judge a stopped clock: met when it used no more business time than it had."""
    return ClockState.MET if elapsed <= budget else ClockState.BREACHED


def stops(
    kind: ClockKind,
    clock_type: ClockType,
    *,
    first_accepted_at: datetime | None,
    completed_at: datetime | None,
    answered_at: datetime | None,
) -> datetime | None:
    """Tell when a clock stopped, if it did.

    A first-response clock stops at the first accept. A regulatory resolution clock stops only on a
    conclusive answer (a resolution with outcome "resolved"): RN 623/2024 does not take "under
    review", a wait or a transfer as an answer. An operational resolution clock stops when the
    agent completes the interaction, resolved or not: the team's work on it is over.
    """
    if clock_type is ClockType.FIRST_RESPONSE:
        return first_accepted_at
    if kind is ClockKind.REGULATORY:
        return answered_at
    return completed_at


def latest_extension(
    policy: Policy, started_at: datetime, current_due_at: datetime, requested: datetime
) -> str | None:
    """Say why an agreed new deadline cannot be granted, or None when it can."""
    if policy.extendable_to_business_days is None:
        return f"policy {policy.id} cannot be extended"
    limit = end_of_business_days(started_at, policy.extendable_to_business_days, policy.calendar)
    if requested <= current_due_at:
        return "the agreed deadline must be later than the current one"
    if requested > limit:
        return (
            f"the agreed deadline may be at most {policy.extendable_to_business_days} business "
            f"days after receipt: {limit.isoformat()}"
        )
    return None


def policies_by_id(policies: Iterable[Policy]) -> Mapping[str, Policy]:
    """Index policies by id."""
    return {policy.id: policy for policy in policies}
