"""What a supervisor reads: the clocks of an interaction, the clocks at risk."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sla.domain.book import PolicyBook
from sla.domain.clocks import time_used
from sla.domain.policies import ClockState
from sla.models import Clock, TrackedInteraction
from sla.service.common import UnknownInteraction, pauses_by_interaction, pauses_of


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
    pauses = await pauses_of(session, interaction_id)
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
    # Only operational clocks pause; the others' readings ignore pauses.
    pauses = await pauses_by_interaction(
        session, {clock.interaction_id for clock, _ in rows if clock.kind == "operational"}
    )
    return [
        read_clock(book, clock, clock_queue, pauses.get(clock.interaction_id, []), now)
        for clock, clock_queue in rows
    ]
