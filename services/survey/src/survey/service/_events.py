"""Writing survey's events to the outbox, with the journey's correlation id."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from atende_events.envelope import EventData, new_event
from atende_events.outbox import add_event
from atende_events.survey import (
    SOURCE,
    SkipReason,
    SurveySkipped,
)
from survey.models import Survey


async def emit(
    session: AsyncSession, data: EventData, *, correlation_id: str | None = None
) -> None:
    """Write a survey event to the outbox in the caller's transaction."""
    await add_event(
        session,
        new_event(data, source=SOURCE, time=data.occurred_at, correlation_id=correlation_id),
    )


async def skip_event(
    session: AsyncSession,
    survey: Survey,
    reason: SkipReason,
    now: datetime,
    *,
    correlation_id: str | None = None,
) -> None:
    """Write the event that a survey was skipped, with its reason."""
    skipped = SurveySkipped(
        occurred_at=now, interaction_id=survey.interaction_id, survey_id=survey.id, reason=reason
    )
    await emit(session, skipped, correlation_id=correlation_id)
