"""What the use cases of sla share: their errors, reading pauses, closing a clock, emitting."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from atende_events.envelope import Envelope, new_event
from atende_events.outbox import add_event
from atende_events.sla import SOURCE, SlaBreached, SlaClockEvent, SlaMet
from sla.domain.policies import OPEN_STATES, ClockState
from sla.models import Clock, Pause

PauseSpans = list[tuple[datetime, datetime | None]]


class UnknownInteraction(LookupError):
    """sla has not seen the receipt of this interaction."""


class ExtensionRefused(ValueError):
    """The extension cannot be granted; `status` says whether it conflicts (409) or is bad (422)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


async def pauses_of(session: AsyncSession, interaction_id: UUID) -> PauseSpans:
    """Read the pauses of one interaction, oldest first."""
    return (await pauses_by_interaction(session, [interaction_id])).get(interaction_id, [])


async def pauses_by_interaction(
    session: AsyncSession, interaction_ids: Collection[UUID]
) -> dict[UUID, PauseSpans]:
    """Read the pauses of several interactions in one query, each one's oldest first."""
    if not interaction_ids:
        return {}
    rows = await session.execute(
        select(Pause.interaction_id, Pause.waiting_at, Pause.resumed_at)
        .where(Pause.interaction_id.in_(interaction_ids))
        .order_by(Pause.interaction_id, Pause.waiting_at)
    )
    pauses: dict[UUID, PauseSpans] = {}
    for interaction_id, waiting, resumed in rows.all():
        pauses.setdefault(interaction_id, []).append((waiting, resumed))
    return pauses


async def close_clock(
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
    await emit(
        session,
        model,
        clock,
        occurred_at=at if verdict is ClockState.MET else min(at, clock.due_at),
        correlation_id=correlation_id,
        business_seconds_elapsed=elapsed.total_seconds(),
    )


class ClockFields(Protocol):
    """What an event about a clock tells of it: a `Clock` row or a clock a batch holds."""

    @property
    def clock_id(self) -> UUID: ...
    @property
    def interaction_id(self) -> UUID: ...
    @property
    def kind(self) -> str: ...
    @property
    def clock_type(self) -> str: ...
    @property
    def policy_id(self) -> str: ...
    @property
    def due_at(self) -> datetime: ...


def clock_event(
    model: type[SlaClockEvent],
    clock: ClockFields,
    *,
    occurred_at: datetime,
    correlation_id: str | None,
    **extra: Any,
) -> Envelope[SlaClockEvent]:
    """Build an event about the clock as it is now."""
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
    return new_event(data, source=SOURCE, time=occurred_at, correlation_id=correlation_id)


async def emit(
    session: AsyncSession,
    model: type[SlaClockEvent],
    clock: Clock,
    *,
    occurred_at: datetime,
    correlation_id: str | None,
    **extra: Any,
) -> None:
    """Write an event about the clock to the outbox, in the caller's transaction."""
    await add_event(
        session,
        clock_event(model, clock, occurred_at=occurred_at, correlation_id=correlation_id, **extra),
    )
