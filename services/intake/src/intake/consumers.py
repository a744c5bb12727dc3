"""Kafka handlers: routing's and sla's events keep each interaction's status and deadlines current.

The consumer runner opens the transaction that claims the event ids; the handlers write in it,
each taking a whole run of consecutive events of a poll at once (see atende_events.consumer).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from atende_events.consumer import Batched, Handler
from atende_events.envelope import Envelope, EventData
from atende_events.routing import (
    InteractionAccepted,
    InteractionOfferDeclined,
    InteractionOffered,
    InteractionQueued,
    InteractionReclassified,
    InteractionReopened,
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
    SlaRedecided,
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
    InteractionReopened,
    InteractionReclassified,
)
DEADLINE_EVENTS: tuple[type[SlaClockEvent], ...] = (
    SlaStarted,
    SlaPaused,
    SlaResumed,
    SlaExtended,
    SlaMet,
    SlaBreached,
    SlaRedecided,
)


async def on_lifecycle_events(events: Sequence[Envelope[Any]], session: AsyncSession) -> None:
    """Follow routing's events: move each status forward and append the events to the history."""
    steps: list[service.LifecycleStep] = []
    for event in events:
        data: EventData = event.data
        step = domain.step_of(data)
        if step is None:
            continue
        steps.append(
            service.LifecycleStep(
                event_id=event.id,
                event_type=event.type,
                interaction_id=getattr(data, "interaction_id"),  # noqa: B009 - every lifecycle event has one
                step=step,
                at=data.occurred_at,
            )
        )
    await service.follow_lifecycle(session, steps)


async def on_deadline_events(events: Sequence[Envelope[Any]], session: AsyncSession) -> None:
    """Follow sla's events: keep each clock's deadline and flag breaches."""
    await service.follow_deadlines(
        session,
        [
            service.ClockReport(event_id=event.id, event_type=event.type, clock=event.data)
            for event in events
        ],
    )


def handlers() -> dict[type[EventData], Handler | Batched]:
    """Map every event intake follows to its handler; each takes a whole run of events at once."""
    return {
        **dict.fromkeys(LIFECYCLE_EVENTS, Batched(on_lifecycle_events)),
        **dict.fromkeys(DEADLINE_EVENTS, Batched(on_deadline_events)),
    }
