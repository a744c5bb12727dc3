"""The ombudsman's agreed extension of a regulatory deadline."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from atende_events.calendar import business_time_between
from atende_events.sla import SlaExtended
from sla.domain.book import PolicyBook
from sla.domain.policies import OPEN_STATES, latest_extension, schedule
from sla.models import Clock, TrackedInteraction
from sla.service.common import ExtensionRefused, UnknownInteraction, emit


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
        select(Clock)
        .where(Clock.interaction_id == interaction_id)
        .order_by(Clock.created_at, Clock.clock_id)  # the same one every time, should two qualify
        .with_for_update()
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
    await emit(
        session,
        SlaExtended,
        clock,
        occurred_at=now,
        correlation_id=interaction.correlation_id,
        previous_due_at=previous,
        reason_code=reason_code,
    )
    return clock
