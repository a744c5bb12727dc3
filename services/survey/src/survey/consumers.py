"""Kafka handlers: receptions give the priority, resolutions the survey decision and follow-ups.

The consumer runner opens the transaction that claims the event id; the handlers write in it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from atende_events.consumer import Handler
from atende_events.envelope import Envelope, EventData
from atende_events.intake import InteractionReceived
from atende_events.routing import InteractionResolved
from survey import service
from survey.domain import EligibilityRules


def handlers(rules: EligibilityRules) -> dict[type[EventData], Handler]:
    """Register the handlers of the events survey consumes."""

    async def on_interaction_received(
        event: Envelope[InteractionReceived], session: AsyncSession
    ) -> None:
        await service.record_reception(session, event.data)

    async def on_interaction_resolved(
        event: Envelope[InteractionResolved], session: AsyncSession
    ) -> None:
        await service.on_resolved(session, event, rules=rules, now=datetime.now(UTC))

    return {
        InteractionReceived: on_interaction_received,
        InteractionResolved: on_interaction_resolved,
    }
