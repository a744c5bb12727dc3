"""Kafka handlers: routing's and sla's events keep each interaction's status and deadlines current.

The consumer runner opens the transaction that claims the event id; the handlers write in it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from atende_events.consumer import Handler
from atende_events.envelope import Envelope, EventData
from atende_events.routing import (
    InteractionAccepted,
    InteractionOfferDeclined,
    InteractionOffered,
    InteractionQueued,
    InteractionResolved,
    InteractionResumed,
    InteractionTransferred,
    InteractionWaiting,
)
from atende_events.sla import (
    SlaBreached,
    SlaClockEvent,
    SlaExtended,
    SlaMet,
    SlaPaused,
    SlaResumed,
    SlaStarted,
)
from intake import domain, service

LIFECYCLE_EVENTS: tuple[type[EventData], ...] = (
    InteractionQueued,
    InteractionOffered,
    InteractionOfferDeclined,
    InteractionAccepted,
    InteractionTransferred,
    InteractionWaiting,
    InteractionResumed,
    InteractionResolved,
)
DEADLINE_EVENTS: tuple[type[SlaClockEvent], ...] = (
    SlaStarted,
    SlaPaused,
    SlaResumed,
    SlaExtended,
    SlaMet,
    SlaBreached,
)


async def on_lifecycle_event(event: Envelope[Any], session: AsyncSession) -> None:
    """Follow a routing event: move the status forward and append it to the history."""
    data: EventData = event.data
    step = domain.step_of(data)
    if step is None:
        return
    await service.follow_lifecycle(
        session,
        event_id=event.id,
        event_type=event.type,
        step=step,
        at=data.occurred_at,
        interaction_id=getattr(data, "interaction_id"),  # noqa: B009 - every lifecycle event has one
    )


async def on_deadline_event(event: Envelope[Any], session: AsyncSession) -> None:
    """Follow an sla event: keep the clock's deadline and flag a breach."""
    clock: SlaClockEvent = event.data
    await service.follow_deadline(session, event_id=event.id, event_type=event.type, clock=clock)


def handlers() -> dict[type[EventData], Handler]:
    """Map every event intake follows to its handler."""
    return {
        **dict.fromkeys(LIFECYCLE_EVENTS, on_lifecycle_event),
        **dict.fromkeys(DEADLINE_EVENTS, on_deadline_event),
    }
