"""Replay lifecycle events on an interaction in memory: its facts, pauses and clocks.

The shell reads the rows of a run's interactions, replays each event here in order, and writes
back what changed; the rules themselves are the domain's pure functions.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from atende_events.envelope import Envelope
from atende_events.sla import (
    ClockKind,
    ClockType,
    SlaBreached,
    SlaMet,
    SlaPaused,
    SlaRedecided,
    SlaResumed,
    SlaStarted,
)
from sla.domain.book import PolicyBook
from sla.domain.clocks import Paused, Progress, Running, Stopped, closed_pauses, next_step
from sla.domain.policies import (
    OPEN_STATES,
    ClockState,
    Facts,
    Matching,
    Policy,
    Slot,
    budget_of,
    match_policies,
    redecided,
    schedule,
)
from sla.service.common import PauseSpans, clock_event
from sla.service.facts import Redecision

log = logging.getLogger(__name__)

MOVING = (
    "state",
    "warn_at",
    "due_at",
    "business_seconds_elapsed",
    "closed_at",
    "policy_id",
    "budget_seconds",
    "warned_at",
)
"""What reconciling changes in a clock row (a re-decision changes its policy and budget)."""


@dataclass
class PauseRow:
    """A pause as the replay has it."""

    id: int | None
    """None for a pause opened in this run, not written yet."""
    waiting_at: datetime
    resumed_at: datetime | None
    read_resumed_at: datetime | None = None


@dataclass
class ClockRow:
    """A clock as the replay has it: the columns an event about it or reconciling needs."""

    clock_id: UUID
    interaction_id: UUID
    kind: str
    clock_type: str
    regime: str
    policy_id: str
    started_at: datetime
    budget_seconds: float
    warn_at: datetime
    due_at: datetime
    state: str
    business_seconds_elapsed: float | None = None
    closed_at: datetime | None = None
    warned_at: datetime | None = None
    read: tuple[Any, ...] | None = None
    """The moving columns as read; None for a clock started in this run."""

    def moving(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in MOVING)

    @property
    def slot(self) -> Slot:
        return self.regime, ClockKind(self.kind), ClockType(self.clock_type)


@dataclass
class InteractionState:
    """An interaction of the run as the replay has it: facts, pauses and clocks."""

    interaction_id: UUID
    facts: dict[str, Any]
    read: dict[str, Any]
    pauses: list[PauseRow] = field(default_factory=list)
    clocks: list[ClockRow] = field(default_factory=list)

    def open_pause(self, at: datetime) -> None:
        self.pauses.append(PauseRow(id=None, waiting_at=at, resumed_at=None))
        self.pauses.sort(key=lambda pause: pause.waiting_at)  # stable: ties keep their order

    def close_pause(self, at: datetime) -> None:
        """Close the latest pause still open that began by `at`."""
        latest: PauseRow | None = None
        for pause in self.pauses:
            if pause.resumed_at is None and pause.waiting_at <= at:
                latest = pause
        if latest is None:
            log.warning("interaction %s resumed without a wait before it", self.interaction_id)
            return
        latest.resumed_at = at

    def spans(self) -> PauseSpans:
        return [(pause.waiting_at, pause.resumed_at) for pause in self.pauses]


def reconcile(
    book: PolicyBook,
    interaction: InteractionState,
    events: list[Envelope[Any]],
    *,
    redecision: Redecision | None = None,
) -> None:
    """Start the clocks the facts decide, then pause, resume or stop them as the facts say.

    With a `redecision` (the facts that choose policies changed), a running regulatory clock
    whose regime now chooses another policy follows it, its deadline counted from its start.
    """
    known = interaction.facts
    received_at: datetime | None = known["received_at"]
    if received_at is None:
        return  # the receipt has not arrived yet: the facts wait for it
    pauses = interaction.spans()
    facts = Facts(
        channel=known["channel"],
        party_kind=known["party_kind"],
        queue=known["queue"],
        demand_type=known["demand_type"],
        priority=known["priority"],
    )
    # The order a fresh read gives, so that a run goes through them as separate events would.
    interaction.clocks.sort(key=lambda clock: (clock.kind, clock.clock_type, clock.regime))
    started = {clock.slot for clock in interaction.clocks}
    matching = match_policies(facts, book.policies)
    if redecision is not None:
        for clock in interaction.clocks:
            if clock.state in OPEN_STATES:
                _redecide(clock, matching, redecision, pauses, known, events)
    for policy in matching.policies:
        if policy.slot not in started:
            clock = _start(policy, interaction.interaction_id, received_at, pauses)
            interaction.clocks.append(clock)
            events.append(
                clock_event(
                    SlaStarted,
                    clock,
                    occurred_at=received_at,
                    correlation_id=known["correlation_id"],
                )
            )
    for clock in interaction.clocks:
        if clock.state in OPEN_STATES:
            _advance(book, clock, known, pauses, events)


def _redecide(
    clock: ClockRow,
    matching: Matching,
    redecision: Redecision,
    pauses: PauseSpans,
    known: dict[str, Any],
    events: list[Envelope[Any]],
) -> None:
    policy = redecided(clock.policy_id, clock.slot, matching)
    if policy is None:
        return
    fresh = _start(policy, clock.interaction_id, clock.started_at, pauses)
    previous_policy_id, previous_due_at = clock.policy_id, clock.due_at
    clock.policy_id, clock.budget_seconds = policy.id, fresh.budget_seconds
    clock.warn_at, clock.due_at = fresh.warn_at, fresh.due_at
    clock.warned_at = None  # it warns again on its new schedule
    events.append(
        clock_event(
            SlaRedecided,
            clock,
            occurred_at=max(redecision.at, clock.started_at),
            correlation_id=known["correlation_id"],
            previous_policy_id=previous_policy_id,
            previous_due_at=previous_due_at,
            reason=redecision.reason,
        )
    )


def _start(
    policy: Policy, interaction_id: UUID, started_at: datetime, pauses: PauseSpans
) -> ClockRow:
    budget = budget_of(policy, started_at)
    timing = schedule(
        started_at=started_at,
        budget=budget,
        warn_at_fraction=policy.warn_at_fraction,
        calendar=policy.calendar,
        paused=closed_pauses(pauses) if policy.pauses else [],
    )
    return ClockRow(
        clock_id=uuid4(),
        interaction_id=interaction_id,
        kind=policy.kind.value,
        clock_type=policy.clock_type.value,
        regime=policy.slot[0],
        policy_id=policy.id,
        started_at=started_at,
        budget_seconds=budget.total_seconds(),
        warn_at=timing.warn_at,
        due_at=timing.due_at,
        state=ClockState.RUNNING.value,
    )


def _advance(
    book: PolicyBook,
    clock: ClockRow,
    known: dict[str, Any],
    pauses: PauseSpans,
    events: list[Envelope[Any]],
) -> None:
    policy = book.find(clock.policy_id)
    if policy is None:
        log.warning(
            "clock %s follows policy %s, no longer in force", clock.clock_id, clock.policy_id
        )
        return
    step = next_step(
        policy,
        state=ClockState(clock.state),
        started_at=clock.started_at,
        budget=timedelta(seconds=clock.budget_seconds),
        progress=Progress(
            first_accepted_at=known["first_accepted_at"],
            completed_at=known["completed_at"],
            answered_at=known["answered_at"],
            pauses=pauses,
        ),
    )
    cid = known["correlation_id"]
    match step:
        case Stopped(verdict=verdict, elapsed=elapsed, at=at):
            clock.state = verdict.value
            clock.closed_at = at
            clock.business_seconds_elapsed = elapsed.total_seconds()
            met = verdict is ClockState.MET
            events.append(
                clock_event(
                    SlaMet if met else SlaBreached,
                    clock,
                    occurred_at=at if met else min(at, clock.due_at),
                    correlation_id=cid,
                    business_seconds_elapsed=elapsed.total_seconds(),
                )
            )
        case Paused(elapsed=elapsed, at=at):
            clock.state = ClockState.PAUSED.value
            clock.business_seconds_elapsed = elapsed.total_seconds()
            events.append(
                clock_event(
                    SlaPaused,
                    clock,
                    occurred_at=at,
                    correlation_id=cid,
                    business_seconds_elapsed=elapsed.total_seconds(),
                )
            )
        case Running(schedule=timing, resumed_at=resumed_at):
            clock.warn_at, clock.due_at = timing.warn_at, timing.due_at
            if resumed_at is not None:
                clock.state = ClockState.RUNNING.value
                clock.business_seconds_elapsed = None
                events.append(
                    clock_event(SlaResumed, clock, occurred_at=resumed_at, correlation_id=cid)
                )
