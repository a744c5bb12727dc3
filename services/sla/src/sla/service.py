"""Use cases of sla: remember what happened to an interaction, then bring its clocks up to date.

Facts are kept whatever order the events arrive in (a resolution may come before the receipt);
`_reconcile` derives the clocks from the facts, so the end state does not depend on the order.
Nothing here commits: the consumer or the route owns the transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from atende_events.envelope import new_event
from atende_events.intake import InteractionReceived
from atende_events.outbox import add_event
from atende_events.routing import (
    InteractionAccepted,
    InteractionQueued,
    InteractionResolved,
    InteractionResumed,
    InteractionTransferred,
    InteractionWaiting,
    Resolution,
)
from atende_events.sla import (
    SOURCE,
    SlaBreached,
    SlaClockEvent,
    SlaExtended,
    SlaMet,
    SlaPaused,
    SlaResumed,
    SlaStarted,
    SlaWarning,
)
from sla.domain.book import PolicyBook
from sla.domain.calendar import business_time_between
from sla.domain.clocks import (
    Paused,
    Progress,
    Running,
    Stopped,
    closed_pauses,
    next_step,
    time_used,
)
from sla.domain.policies import (
    OPEN_STATES,
    ClockState,
    Facts,
    Policy,
    budget_of,
    latest_extension,
    match_policies,
    schedule,
)
from sla.models import Clock, Pause, TrackedInteraction

log = logging.getLogger(__name__)

_EARLIEST = ("first_accepted_at", "completed_at", "answered_at")


class UnknownInteraction(LookupError):
    """sla has not seen the receipt of this interaction."""


class ExtensionRefused(ValueError):
    """The extension cannot be granted; `status` says whether it conflicts (409) or is bad (422)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


async def record_received(
    session: AsyncSession,
    *,
    book: PolicyBook,
    event: InteractionReceived,
    correlation_id: str | None,
) -> None:
    """Remember a receipt and start the interaction's clocks as of its received time."""
    await _remember(
        session,
        event.interaction_id,
        received_at=event.received_at,
        channel=event.channel.value,
        party_kind=event.party_kind.value,
        priority=event.priority.value,
        demand_type=event.demand_type,
        correlation_id=correlation_id,
    )
    await _reconcile(session, book=book, interaction_id=event.interaction_id)


async def record_queued(
    session: AsyncSession, *, book: PolicyBook, event: InteractionQueued
) -> None:
    """Remember the queue and the (possibly inferred) demand type; start the clocks they decide."""
    await _remember(session, event.interaction_id, queue=event.queue, demand_type=event.demand_type)
    await _reconcile(session, book=book, interaction_id=event.interaction_id)


async def record_transferred(session: AsyncSession, *, event: InteractionTransferred) -> None:
    """Remember the new queue; transfers neither stop nor pause a clock."""
    await _remember(session, event.interaction_id, queue=event.to_queue)


async def record_accepted(
    session: AsyncSession, *, book: PolicyBook, event: InteractionAccepted
) -> None:
    """Remember the first accept, which stops the first-response clock."""
    await _remember(session, event.interaction_id, first_accepted_at=event.occurred_at)
    await _reconcile(session, book=book, interaction_id=event.interaction_id)


async def record_waiting(
    session: AsyncSession, *, book: PolicyBook, event: InteractionWaiting
) -> None:
    """Open a pause: operational clocks that pause stop counting."""
    await _remember(session, event.interaction_id)
    session.add(Pause(interaction_id=event.interaction_id, waiting_at=event.occurred_at))
    await session.flush()
    await _reconcile(session, book=book, interaction_id=event.interaction_id)


async def record_resumed(
    session: AsyncSession, *, book: PolicyBook, event: InteractionResumed
) -> None:
    """Close the open pause; paused clocks run again with a later deadline."""
    await _remember(session, event.interaction_id)
    latest_open = (
        select(Pause.id)
        .where(
            Pause.interaction_id == event.interaction_id,
            Pause.resumed_at.is_(None),
            Pause.waiting_at <= event.occurred_at,
        )
        .order_by(Pause.waiting_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    closed = await session.execute(
        update(Pause).where(Pause.id == latest_open).values(resumed_at=event.occurred_at)
    )
    if not closed.rowcount:  # type: ignore[attr-defined]
        log.warning("interaction %s resumed without a wait before it", event.interaction_id)
    await _reconcile(session, book=book, interaction_id=event.interaction_id)


async def record_resolved(
    session: AsyncSession, *, book: PolicyBook, event: InteractionResolved
) -> None:
    """Remember the completion (and whether it answered conclusively); stop the clocks it stops."""
    answered = event.occurred_at if event.resolution is Resolution.RESOLVED else None
    await _remember(
        session,
        event.interaction_id,
        completed_at=event.occurred_at,
        answered_at=answered,
        queue=event.queue,
    )
    await _reconcile(session, book=book, interaction_id=event.interaction_id)


async def _remember(session: AsyncSession, interaction_id: UUID, **facts: Any) -> None:
    """Upsert facts: stop moments keep the earliest, a given demand type never erases one."""
    facts = {name: value for name, value in facts.items() if value is not None}
    statement = insert(TrackedInteraction).values(interaction_id=interaction_id, **facts)
    table = TrackedInteraction.__table__.c
    merged: dict[str, Any] = {"updated_at": func.now()}
    for name in facts:
        if name in _EARLIEST:
            merged[name] = func.least(table[name], statement.excluded[name])
        elif name == "priority":
            merged[name] = func.coalesce(table[name], statement.excluded[name])
        else:
            merged[name] = statement.excluded[name]
    await session.execute(
        statement.on_conflict_do_update(index_elements=["interaction_id"], set_=merged)
    )


async def _pauses(
    session: AsyncSession, interaction_id: UUID
) -> list[tuple[datetime, datetime | None]]:
    rows = await session.execute(
        select(Pause.waiting_at, Pause.resumed_at)
        .where(Pause.interaction_id == interaction_id)
        .order_by(Pause.waiting_at)
    )
    return [(waiting, resumed) for waiting, resumed in rows.all()]


async def _reconcile(session: AsyncSession, *, book: PolicyBook, interaction_id: UUID) -> None:
    """Start the clocks the facts decide, then pause, resume or stop them as the facts say."""
    interaction = await session.get(
        TrackedInteraction, interaction_id, with_for_update=True, populate_existing=True
    )
    if interaction is None or interaction.received_at is None:
        return  # the receipt has not arrived yet: the facts wait for it
    pauses = await _pauses(session, interaction_id)
    clocks = list(
        await session.scalars(
            select(Clock)
            .where(Clock.interaction_id == interaction_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )
    facts = Facts(
        channel=interaction.channel,
        party_kind=interaction.party_kind,
        queue=interaction.queue,
        demand_type=interaction.demand_type,
        priority=interaction.priority,
    )
    started = {(clock.kind, clock.clock_type) for clock in clocks}
    for policy in match_policies(facts, book.policies).policies:
        if (policy.kind.value, policy.clock_type.value) not in started:
            clocks.append(await _start(session, policy, interaction, pauses))
    for clock in clocks:
        if clock.state in OPEN_STATES:
            await _advance(session, book, clock, interaction, pauses)


async def _start(
    session: AsyncSession,
    policy: Policy,
    interaction: TrackedInteraction,
    pauses: Sequence[tuple[datetime, datetime | None]],
) -> Clock:
    assert interaction.received_at is not None
    started_at = interaction.received_at
    budget = budget_of(policy, started_at)
    closed = closed_pauses(pauses) if policy.pauses else []
    timing = schedule(
        started_at=started_at,
        budget=budget,
        warn_at_fraction=policy.warn_at_fraction,
        calendar=policy.calendar,
        paused=closed,
    )
    clock = Clock(
        clock_id=uuid4(),
        interaction_id=interaction.interaction_id,
        kind=policy.kind.value,
        clock_type=policy.clock_type.value,
        policy_id=policy.id,
        started_at=started_at,
        budget_seconds=budget.total_seconds(),
        warn_at=timing.warn_at,
        due_at=timing.due_at,
        state=ClockState.RUNNING.value,
    )
    session.add(clock)
    await session.flush()
    await _emit(
        session,
        SlaStarted,
        clock,
        occurred_at=started_at,
        correlation_id=interaction.correlation_id,
    )
    return clock


async def _advance(
    session: AsyncSession,
    book: PolicyBook,
    clock: Clock,
    interaction: TrackedInteraction,
    pauses: Sequence[tuple[datetime, datetime | None]],
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
            first_accepted_at=interaction.first_accepted_at,
            completed_at=interaction.completed_at,
            answered_at=interaction.answered_at,
            pauses=pauses,
        ),
    )
    cid = interaction.correlation_id
    match step:
        case Stopped(verdict=verdict, elapsed=elapsed, at=at):
            await _close(session, clock, verdict, elapsed, at, correlation_id=cid)
        case Paused(elapsed=elapsed, at=at):
            clock.state = ClockState.PAUSED.value
            clock.business_seconds_elapsed = elapsed.total_seconds()
            await _emit(
                session,
                SlaPaused,
                clock,
                occurred_at=at,
                correlation_id=cid,
                business_seconds_elapsed=elapsed.total_seconds(),
            )
        case Running(schedule=timing, resumed_at=resumed_at):
            clock.warn_at, clock.due_at = timing.warn_at, timing.due_at
            if resumed_at is not None:
                clock.state = ClockState.RUNNING.value
                clock.business_seconds_elapsed = None
                await _emit(session, SlaResumed, clock, occurred_at=resumed_at, correlation_id=cid)


async def _close(
    session: AsyncSession,
    clock: Clock,
    verdict: ClockState,
    elapsed: timedelta,
    at: datetime,
    *,
    correlation_id: str | None,
) -> None:
    """Mark a clock met or breached; the state guard makes this happen once per clock."""
    closed = await session.execute(
        update(Clock)
        .where(Clock.clock_id == clock.clock_id, Clock.state.in_([s.value for s in OPEN_STATES]))
        .values(state=verdict.value, closed_at=at, business_seconds_elapsed=elapsed.total_seconds())
        .returning(Clock.clock_id)
        .execution_options(synchronize_session="fetch")
    )
    if closed.first() is None:
        return
    model = SlaMet if verdict is ClockState.MET else SlaBreached
    await _emit(
        session,
        model,
        clock,
        occurred_at=at if verdict is ClockState.MET else min(at, clock.due_at),
        correlation_id=correlation_id,
        business_seconds_elapsed=elapsed.total_seconds(),
    )


async def _emit(
    session: AsyncSession,
    model: type[SlaClockEvent],
    clock: Clock,
    *,
    occurred_at: datetime,
    correlation_id: str | None,
    **extra: Any,
) -> None:
    data = model.model_validate(
        {
            "occurred_at": occurred_at,
            "interaction_id": clock.interaction_id,
            "clock_id": clock.clock_id,
            "kind": clock.kind,
            "clock_type": clock.clock_type,
            "policy_id": clock.policy_id,
            "due_at": clock.due_at,
            **extra,
        }
    )
    await add_event(
        session,
        new_event(data, source=SOURCE, time=occurred_at, correlation_id=correlation_id),
    )


async def fire_due(session: AsyncSession, *, book: PolicyBook, now: datetime, limit: int) -> int:
    """Warn and breach the running clocks whose moment has come; return how many fired.

    The rows are taken with FOR UPDATE SKIP LOCKED and marked in the transaction that writes the
    events to the outbox, so two instances never fire the same one and a crash fires it again.
    """
    due = await session.scalars(
        select(Clock)
        .where(
            Clock.state == ClockState.RUNNING.value,
            or_(Clock.due_at <= now, and_(Clock.warned_at.is_(None), Clock.warn_at <= now)),
        )
        .order_by(Clock.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    fired = 0
    for clock in list(due):
        correlation_id = await session.scalar(
            select(TrackedInteraction.correlation_id).where(
                TrackedInteraction.interaction_id == clock.interaction_id
            )
        )
        budget = timedelta(seconds=clock.budget_seconds)
        if clock.due_at <= now:
            clock.warned_at = clock.warned_at or now
            await _close(
                session,
                clock,
                ClockState.BREACHED,
                budget,
                clock.due_at,
                correlation_id=correlation_id,
            )
        else:
            clock.warned_at = now
            policy = book.find(clock.policy_id)
            fraction = policy.warn_at_fraction if policy is not None else 0.8
            await _emit(
                session,
                SlaWarning,
                clock,
                occurred_at=clock.warn_at,
                correlation_id=correlation_id,
                business_seconds_elapsed=(budget * fraction).total_seconds(),
            )
        fired += 1
    return fired


@dataclass(frozen=True)
class ClockReading:
    """A clock as a supervisor reads it now."""

    clock: Clock
    queue: str | None
    elapsed: timedelta
    left: timedelta


def read_clock(
    book: PolicyBook,
    clock: Clock,
    queue: str | None,
    pauses: Sequence[tuple[datetime, datetime | None]],
    now: datetime,
) -> ClockReading:
    """Measure the business time a clock has used and has left at `now`."""
    budget = timedelta(seconds=clock.budget_seconds)
    elapsed = time_used(
        book.find(clock.policy_id),
        state=ClockState(clock.state),
        started_at=clock.started_at,
        recorded=timedelta(seconds=clock.business_seconds_elapsed or 0),
        pauses=pauses,
        now=now,
    )
    return ClockReading(
        clock=clock, queue=queue, elapsed=elapsed, left=max(budget - elapsed, timedelta(0))
    )


async def clocks_of(
    session: AsyncSession, *, book: PolicyBook, interaction_id: UUID, now: datetime
) -> tuple[TrackedInteraction, list[ClockReading]]:
    """Read every clock of an interaction; raise UnknownInteraction before its receipt."""
    interaction = await session.get(TrackedInteraction, interaction_id)
    if interaction is None or interaction.received_at is None:
        raise UnknownInteraction(interaction_id)
    pauses = await _pauses(session, interaction_id)
    clocks = await session.scalars(
        select(Clock).where(Clock.interaction_id == interaction_id).order_by(Clock.due_at)
    )
    return interaction, [read_clock(book, c, interaction.queue, pauses, now) for c in clocks]


async def at_risk(
    session: AsyncSession,
    *,
    book: PolicyBook,
    now: datetime,
    within: timedelta,
    queue: str | None,
    limit: int,
) -> list[ClockReading]:
    """List running clocks due within the window, soonest first."""
    query = (
        select(Clock, TrackedInteraction.queue)
        .join(TrackedInteraction, TrackedInteraction.interaction_id == Clock.interaction_id)
        .where(Clock.state == ClockState.RUNNING.value, Clock.due_at <= now + within)
        .order_by(Clock.due_at, Clock.clock_id)
        .limit(limit)
    )
    if queue is not None:
        query = query.where(TrackedInteraction.queue == queue)
    rows = (await session.execute(query)).all()
    readings = []
    for clock, clock_queue in rows:
        pauses = await _pauses(session, clock.interaction_id) if clock.kind == "operational" else []
        readings.append(read_clock(book, clock, clock_queue, pauses, now))
    return readings


async def extend(
    session: AsyncSession,
    *,
    book: PolicyBook,
    interaction_id: UUID,
    due_at: datetime,
    reason_code: str | None,
    now: datetime,
) -> Clock:
    """Move the ombudsman's deadline to the agreed one, once, and record it as an event."""
    interaction = await session.get(TrackedInteraction, interaction_id, with_for_update=True)
    if interaction is None or interaction.received_at is None:
        raise UnknownInteraction(interaction_id)
    clocks = await session.scalars(
        select(Clock).where(Clock.interaction_id == interaction_id).with_for_update()
    )
    extendable = [
        clock
        for clock in clocks
        if (policy := book.find(clock.policy_id)) is not None
        and policy.extendable_to_business_days is not None
    ]
    if not extendable:
        raise ExtensionRefused(409, "This interaction has no clock that may be extended.")
    clock = extendable[0]
    if clock.extended_at is not None:
        raise ExtensionRefused(409, "The deadline was already extended once.")
    if clock.state not in OPEN_STATES:
        raise ExtensionRefused(409, f"The clock is already {clock.state}.")
    policy = book.policy(clock.policy_id)  # found above
    refusal = latest_extension(policy, clock.started_at, clock.due_at, due_at)
    if refusal is not None:
        raise ExtensionRefused(422, refusal)
    previous = clock.due_at
    budget = business_time_between(clock.started_at, due_at, policy.calendar)
    timing = schedule(
        started_at=clock.started_at,
        budget=budget,
        warn_at_fraction=policy.warn_at_fraction,
        calendar=policy.calendar,
    )
    clock.budget_seconds = budget.total_seconds()
    # The agreed moment itself, even when it falls outside business days.
    clock.warn_at, clock.due_at = timing.warn_at, due_at
    clock.extended_at = now
    if timing.warn_at > now:
        clock.warned_at = None  # a new deadline gets its own warning
    await session.flush()
    await _emit(
        session,
        SlaExtended,
        clock,
        occurred_at=now,
        correlation_id=interaction.correlation_id,
        previous_due_at=previous,
        reason_code=reason_code,
    )
    return clock
