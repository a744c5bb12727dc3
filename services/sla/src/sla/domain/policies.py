"""SLA policies: which clocks an interaction gets, and the deadlines they keep."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from atende_events.calendar import (
    Calendar,
    Span,
    add_business_time,
    business_time_between,
    end_of_business_days,
)
from atende_events.sla import ClockKind, ClockType


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
    unless_channels: frozenset[str] = frozenset()
    unless_demand_types: frozenset[str] = frozenset()
    """Interactions these exclude, whatever else matches (internal work: follow-ups)."""


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
    regime: str = ""
    """The rule family the policy belongs to (rn623, rn323, rn566, nip, operational, ...); its
    kind's name when none is given."""

    @property
    def slot(self) -> Slot:
        """Name the clock this policy competes for: one per regime, kind and type."""
        return self.regime or self.kind.value, self.kind, self.clock_type


Slot = tuple[str, ClockKind, ClockType]
"""A clock an interaction may carry: its regime, kind and type."""


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
    undecided: frozenset[Slot]

    def chosen_for(self, slot: Slot) -> Policy | None:
        """Give the policy chosen for a clock, None when none applies or it is undecided."""
        return next((policy for policy in self.policies if policy.slot == slot), None)


def match_policies(facts: Facts, policies: Sequence[Policy]) -> Matching:
    """Choose, per clock, the first policy in order that applies to the interaction.

    A clock is one regime's clock of a kind and type: within a regime the first matching policy
    wins (the order is the precedence), and every regime that applies gives its own clock, so an
    urgent ombudsman contact carries both the RN 623 urgency clock and the RN 323 clock.

    A clock is undecided while an earlier policy for it depends on a fact not known yet (the queue
    and an inferred demand type come with `interaction.queued`); it is decided later, when the
    fact arrives, and started as of the receipt all the same.
    """
    chosen: dict[Slot, Policy] = {}
    undecided: set[Slot] = set()
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
    refused = {"channel": criteria.unless_channels, "demand_type": criteria.unless_demand_types}
    unknown = False
    for name, allowed in needed.items():
        if not allowed:
            continue
        value = getattr(facts, name)
        if value is None:
            unknown = True
        elif value not in allowed:
            return False
    for name, excluded in refused.items():
        if not excluded:
            continue
        value = getattr(facts, name)
        if value is None:
            unknown = True
        elif value in excluded:
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


def redecided(policy_id: str, slot: Slot, matching: Matching) -> Policy | None:
    """Give the policy a running regulatory clock follows now, or None when it keeps its own.

    The facts that chose a clock's policy may change after it started (triage raised the
    priority, an agent corrected the demand type): the clock then follows the policy the facts
    choose now, its deadline counted from its original start. A clock whose regime no longer
    applies, or is undecided, keeps its policy: no deadline is dropped on the way. Operational
    clocks are the team's own targets and keep the policy they started with.
    """
    if slot[1] is not ClockKind.REGULATORY or slot in matching.undecided:
        return None
    chosen = matching.chosen_for(slot)
    if chosen is None or chosen.id == policy_id:
        return None
    return chosen


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
    conclusive answer (a resolution "resolved" with an outcome, whose written answer routing
    checked is no holding note): RN 623/2024 does not take "em análise", a wait, a transfer or
    work handed back unresolved as an answer. An operational resolution clock stops when the
    agent completes the interaction: the team's work on it is over (unresolved work goes back to
    a queue as a transfer, which stops nothing).
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
