"""Kafka handlers: received interactions are queued and offered; sla deadlines order the queues.

The consumer runner opens the transaction that claims the event id; the handlers write in it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from atende_events.consumer import Handler
from atende_events.envelope import Envelope, EventData
from atende_events.intake import InteractionReceived
from atende_events.sla import (
    SlaBreached,
    SlaClockEvent,
    SlaExtended,
    SlaMet,
    SlaResumed,
    SlaStarted,
    SlaWarning,
)
from routing import service
from routing.config import Settings
from routing.domain import RuleBook

DEADLINE_EVENTS: tuple[type[SlaClockEvent], ...] = (
    SlaStarted,
    SlaWarning,
    SlaBreached,
    SlaMet,
    SlaResumed,
    SlaExtended,
)


def handlers(book: RuleBook, settings: Settings) -> dict[type[EventData], Handler]:
    """Map every event routing follows to its handler."""

    async def on_interaction_received(
        event: Envelope[InteractionReceived], session: AsyncSession
    ) -> None:
        """Classify, queue and offer a new interaction."""
        await service.queue_interaction(
            session,
            received=event.data,
            book=book,
            settings=settings,
            correlation_id=event.correlationid,
        )

    async def on_deadline(event: Envelope[Any], session: AsyncSession) -> None:
        """Keep the deadline a clock reported, so the queue orders by the earliest."""
        clock: SlaClockEvent = event.data
        await service.note_deadline(session, clock=clock)

    return {
        InteractionReceived: on_interaction_received,
        **dict.fromkeys(DEADLINE_EVENTS, on_deadline),
    }
