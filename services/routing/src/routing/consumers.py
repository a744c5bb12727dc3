"""Kafka handlers: received interactions are queued and offered; sla deadlines order the queues.

The consumer runner opens the transaction that claims the event ids; the handlers write in it,
each taking a run of consecutive events at once and writing them set-based.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from atende_events.consumer import Batched, Handler
from atende_events.envelope import Envelope, EventData
from atende_events.intake import InteractionReceived
from atende_events.sla import (
    SlaBreached,
    SlaClockEvent,
    SlaExtended,
    SlaMet,
    SlaRedecided,
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
    SlaRedecided,
)


def handlers(book: RuleBook, settings: Settings) -> dict[type[EventData], Handler | Batched]:
    """Map every event routing follows to its handler."""

    async def on_interactions_received(
        events: Sequence[Envelope[Any]], session: AsyncSession
    ) -> None:
        """Classify, queue and offer new interactions."""
        await service.queue_received(session, events=events, book=book, settings=settings)

    async def on_deadlines(events: Sequence[Envelope[Any]], session: AsyncSession) -> None:
        """Keep the deadlines clocks reported, so the queue orders by the earliest."""
        await service.note_deadlines(session, clocks=[event.data for event in events])

    # One object for every clock event type, so that a run mixing them is one call.
    deadlines = Batched(on_deadlines)
    return {
        InteractionReceived: Batched(on_interactions_received),
        **dict.fromkeys(DEADLINE_EVENTS, deadlines),
    }
