"""Kafka handlers of sla; the consumer runner opens the transaction that also claims the event."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from atende_events.consumer import Handler
from atende_events.envelope import Envelope, EventData
from atende_events.intake import InteractionReceived
from atende_events.routing import (
    InteractionAccepted,
    InteractionQueued,
    InteractionResolved,
    InteractionResumed,
    InteractionTransferred,
    InteractionWaiting,
)
from sla import service
from sla.domain.book import PolicyBook


def handlers(book: PolicyBook) -> Mapping[type[EventData], Handler]:
    """Give the handler of every lifecycle event sla follows, bound to the policy book."""

    async def on_interaction_received(
        event: Envelope[InteractionReceived], session: AsyncSession
    ) -> None:
        await service.record_received(
            session, book=book, event=event.data, correlation_id=event.correlationid
        )

    async def on_interaction_queued(
        event: Envelope[InteractionQueued], session: AsyncSession
    ) -> None:
        await service.record_queued(session, book=book, event=event.data)

    async def on_interaction_transferred(
        event: Envelope[InteractionTransferred], session: AsyncSession
    ) -> None:
        await service.record_transferred(session, event=event.data)

    async def on_interaction_accepted(
        event: Envelope[InteractionAccepted], session: AsyncSession
    ) -> None:
        await service.record_accepted(session, book=book, event=event.data)

    async def on_interaction_waiting(
        event: Envelope[InteractionWaiting], session: AsyncSession
    ) -> None:
        await service.record_waiting(session, book=book, event=event.data)

    async def on_interaction_resumed(
        event: Envelope[InteractionResumed], session: AsyncSession
    ) -> None:
        await service.record_resumed(session, book=book, event=event.data)

    async def on_interaction_resolved(
        event: Envelope[InteractionResolved], session: AsyncSession
    ) -> None:
        await service.record_resolved(session, book=book, event=event.data)

    return {
        InteractionReceived: on_interaction_received,
        InteractionQueued: on_interaction_queued,
        InteractionTransferred: on_interaction_transferred,
        InteractionAccepted: on_interaction_accepted,
        InteractionWaiting: on_interaction_waiting,
        InteractionResumed: on_interaction_resumed,
        InteractionResolved: on_interaction_resolved,
    }
