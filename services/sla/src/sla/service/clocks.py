"""Remember what happened to an interaction, then start, pause, resume or stop its clocks.

Facts are kept whatever order the events arrive in (a resolution may come before the receipt);
`_reconcile` derives the clocks from the facts, so the end state does not depend on the order.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from atende_events.intake import InteractionReceived
from atende_events.routing import (
    InteractionAccepted,
    InteractionQueued,
    InteractionResolved,
    InteractionResumed,
    InteractionTransferred,
    InteractionWaiting,
    Resolution,
)
from atende_events.sla import SlaPaused, SlaResumed, SlaStarted
from sla.domain.book import PolicyBook
from sla.domain.clocks import Paused, Progress, Running, Stopped, closed_pauses, next_step
from sla.domain.policies import (
    OPEN_STATES,
    ClockState,
    Facts,
    Policy,
    budget_of,
    match_policies,
    schedule,
)
from sla.models import Clock, Pause, TrackedInteraction
from sla.service.common import close_clock, emit, pauses_of

log = logging.getLogger(__name__)

_EARLIEST = ("first_accepted_at", "completed_at", "answered_at")


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


async def _reconcile(session: AsyncSession, *, book: PolicyBook, interaction_id: UUID) -> None:
    """Start the clocks the facts decide, then pause, resume or stop them as the facts say."""
    interaction = await session.get(
        TrackedInteraction, interaction_id, with_for_update=True, populate_existing=True
    )
    if interaction is None or interaction.received_at is None:
        return  # the receipt has not arrived yet: the facts wait for it
    pauses = await pauses_of(session, interaction_id)
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
    await emit(
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
            await close_clock(session, clock, verdict, elapsed, at, correlation_id=cid)
        case Paused(elapsed=elapsed, at=at):
            clock.state = ClockState.PAUSED.value
            clock.business_seconds_elapsed = elapsed.total_seconds()
            await emit(
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
                await emit(session, SlaResumed, clock, occurred_at=resumed_at, correlation_id=cid)
