"""Kafka handlers: receptions give the priority, resolutions the survey decision and follow-ups.

The consumer runner opens the transaction that claims the event id; the handlers write in it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from atende_events.consumer import Batched, Handler
from atende_events.envelope import Envelope, EventData
from atende_events.intake import InteractionReceived
from atende_events.routing import InteractionResolved
from survey import service
from survey.domain import EligibilityRules


def handlers(rules: EligibilityRules) -> dict[type[EventData], Handler | Batched]:
    """Register the handlers of the events survey consumes."""

    async def on_interactions_received(
        events: Sequence[Envelope[InteractionReceived]], session: AsyncSession
    ) -> None:
        await service.record_receptions(session, [event.data for event in events])

    async def on_interaction_resolved(
        event: Envelope[InteractionResolved], session: AsyncSession
    ) -> None:
        await service.on_resolved(session, event, rules=rules, now=datetime.now(UTC))

    return {
        InteractionReceived: Batched(on_interactions_received),
        InteractionResolved: on_interaction_resolved,
    }
