"""Kafka handlers of sla; the consumer runner opens the transaction that also claims the event."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from atende_events.consumer import Batched, Handler
from atende_events.envelope import Envelope, EventData
from atende_events.intake import InteractionReceived
from atende_events.routing import (
    InteractionAccepted,
    InteractionQueued,
    InteractionReclassified,
    InteractionResolved,
    InteractionResumed,
    InteractionTransferred,
    InteractionWaiting,
)
from atende_events.watermarks import OutboxWatermark
from sla import service
from sla.domain.book import PolicyBook
from sla.service import facts, watermarks

LIFECYCLE: tuple[type[EventData], ...] = (
    InteractionReceived,
    InteractionQueued,
    InteractionTransferred,
    InteractionAccepted,
    InteractionWaiting,
    InteractionResumed,
    InteractionResolved,
    InteractionReclassified,
)
"""The lifecycle events sla follows."""


def happening_of(event: Envelope[Any]) -> service.Happening:
    """Say what a lifecycle event tells sla."""
    match event.data:
        case InteractionReceived() as data:
            return facts.received(data, correlation_id=event.correlationid)
        case InteractionQueued() as data:
            return facts.queued(data)
        case InteractionTransferred() as data:
            return facts.transferred(data)
        case InteractionAccepted() as data:
            return facts.accepted(data)
        case InteractionWaiting() as data:
            return facts.waiting(data)
        case InteractionResumed() as data:
            return facts.resumed(data)
        case InteractionResolved() as data:
            return facts.resolved(data)
        case InteractionReclassified() as data:
            return facts.reclassified(data)
    raise TypeError(f"sla does not follow {event.type}")


def handlers(book: PolicyBook) -> Mapping[type[EventData], Handler | Batched]:
    """Give the handler of every lifecycle event sla follows, bound to the policy book.

    One batched handler takes them all, so a run that mixes them (a receipt, then its
    resolution) is remembered and reconciled as a set, in order. The producers' watermarks are
    kept for the due-timer, unclaimed: keeping the highest, a redelivered one changes nothing.
    """

    async def on_lifecycle(events: Sequence[Envelope[Any]], session: AsyncSession) -> None:
        await service.record(session, book=book, happenings=[happening_of(e) for e in events])

    async def on_watermarks(events: Sequence[Envelope[Any]], session: AsyncSession) -> None:
        await watermarks.note_watermarks(session, events=events)

    return {
        **dict.fromkeys(LIFECYCLE, Batched(on_lifecycle)),
        OutboxWatermark: Batched(on_watermarks, claims=False),
    }
