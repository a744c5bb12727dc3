"""Receptions and resolutions: one survey decision per resolved interaction, as an event."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from atende_events.envelope import Envelope
from atende_events.intake import InteractionReceived, Priority
from atende_events.routing import InteractionResolved, Resolution
from atende_events.survey import SurveyScheduled
from survey import domain
from survey.domain import EligibilityRules
from survey.models import OptOut, Reception, Survey
from survey.service._events import emit, skip_event
from survey.service.followups import close_followup

COUNTED_FOR_FATIGUE = ("scheduled", "dispatched", "answered", "expired")
"""Surveys that reached, or will reach, the person; skipped and failed ones do not count."""


_RECORD_RECEPTIONS = text(
    "INSERT INTO receptions (interaction_id, priority, received_at)"
    " SELECT id, priority, received_at FROM unnest(CAST(:ids AS uuid[]),"
    " CAST(:priorities AS text[]), CAST(:received AS timestamptz[]))"
    " WITH ORDINALITY AS r(id, priority, received_at, n)"
    " ORDER BY id, n ON CONFLICT DO NOTHING"
)


async def record_receptions(session: AsyncSession, events: Sequence[InteractionReceived]) -> None:
    """Remember interactions' priorities (eligibility needs them at resolution), in one statement.

    The first reception of an interaction is kept, as when they come one by one.
    """
    if not events:
        return
    await session.execute(
        _RECORD_RECEPTIONS,
        {
            "ids": [event.interaction_id for event in events],
            "priorities": [event.priority.value for event in events],
            "received": [event.received_at for event in events],
        },
    )


async def purge_receptions(session: AsyncSession, *, before: datetime) -> int:
    """Forget receptions of interactions never resolved (or resolved before they arrived)."""
    result = await session.execute(delete(Reception).where(Reception.received_at < before))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def on_resolved(
    session: AsyncSession,
    event: Envelope[InteractionResolved],
    *,
    rules: EligibilityRules,
    now: datetime,
) -> None:
    """Close the follow-up this resolution ends, then decide the interaction's survey."""
    data = event.data
    await close_followup(session, data, correlation_id=event.correlationid)
    if await session.scalar(select(Survey.id).where(Survey.interaction_id == data.interaction_id)):
        return  # one survey decision per interaction, even when routing resolves it twice
    # Serialise decisions per party, so two instances cannot both survey one party in a window.
    await session.execute(select(func.pg_advisory_xact_lock(_lock_key(data.party_ref))))
    # The reception has done its job once read: the decision is made once per interaction.
    priority = await session.scalar(
        delete(Reception)
        .where(Reception.interaction_id == data.interaction_id)
        .returning(Reception.priority)
    )
    opted_out = await session.scalar(
        select(OptOut.party_ref).where(OptOut.party_ref == data.party_ref)
    )
    last_surveyed_at = await session.scalar(
        select(func.max(Survey.resolved_at)).where(
            Survey.party_ref == data.party_ref, Survey.status.in_(COUNTED_FOR_FATIGUE)
        )
    )
    decision = domain.decide(
        domain.Resolved(
            channel=data.channel,
            queue=data.queue,
            resolution=Resolution(data.resolution),
            sensitive=data.sensitive,
            priority=Priority(priority) if priority else None,
            resolved_at=data.occurred_at,
        ),
        rules,
        opted_out=opted_out is not None,
        last_surveyed_at=last_surveyed_at,
        now=now,
    )
    survey = Survey(
        id=uuid.uuid4(),
        interaction_id=data.interaction_id,
        channel=data.channel.value,
        party_kind=data.party_kind.value,
        party_ref=data.party_ref,
        queue=data.queue,
        resolved_at=data.occurred_at,
        attempts=0,
        correlation_id=event.correlationid,
        created_at=now,
    )
    if isinstance(decision, domain.Schedule):
        survey.status, survey.due_at = "scheduled", decision.due_at
        session.add(survey)
        scheduled = SurveyScheduled(
            occurred_at=now,
            interaction_id=data.interaction_id,
            survey_id=survey.id,
            channel=data.channel,
            party_kind=data.party_kind,
            party_ref=data.party_ref,
            due_at=decision.due_at,
        )
        await emit(session, scheduled, correlation_id=event.correlationid)
    else:
        survey.status, survey.skip_reason = "skipped", decision.reason.value
        session.add(survey)
        await skip_event(session, survey, decision.reason, now, correlation_id=event.correlationid)


def _lock_key(party_ref: str) -> int:
    digest = hashlib.sha256(f"atende.survey.party:{party_ref}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)
