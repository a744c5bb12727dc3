"""Follow-ups of detractors: opened at intake by the timer, closed by routing's resolution."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from atende_events.routing import InteractionResolved
from atende_events.survey import FollowupClosed, FollowupOpened
from survey import domain, intake_client
from survey.models import Followup, Response, Survey
from survey.schemas import FollowupOut
from survey.service._events import emit
from survey.service.dispatch import Dispatcher

log = logging.getLogger(__name__)


async def close_followup(
    session: AsyncSession, data: InteractionResolved, *, correlation_id: str | None
) -> None:
    """Close the open follow-up this resolution ends, with its reason code and notes."""
    followup = await session.scalar(
        select(Followup)
        .where(Followup.followup_interaction_id == data.interaction_id, Followup.status == "open")
        .with_for_update()
    )
    if followup is None:
        return
    followup.status = "closed"
    followup.reason_code = data.reason_code or domain.UNSPECIFIED_REASON
    followup.notes = data.content
    followup.closed_at = data.occurred_at
    closed = FollowupClosed(
        occurred_at=data.occurred_at,
        interaction_id=followup.interaction_id,
        survey_id=followup.survey_id,
        followup_id=followup.id,
        followup_interaction_id=data.interaction_id,
        reason_code=followup.reason_code,
        content=data.content,
    )
    await emit(session, closed, correlation_id=correlation_id)


async def open_next_followup(
    session: AsyncSession, *, dispatcher: Dispatcher, now: datetime
) -> bool:
    """Ask intake to open one pending follow-up interaction; False when none is due."""
    followup = await session.scalar(
        select(Followup)
        .where(Followup.status == "pending", Followup.due_at <= now)
        .order_by(Followup.due_at)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if followup is None:
        return False
    response = await session.get(Response, followup.survey_id)
    assert response is not None
    try:
        original = await intake_client.interaction(dispatcher.intake, followup.interaction_id)
        if original is None:
            raise intake_client.IntakeUnavailable("intake does not know the surveyed interaction")
        opened = await intake_client.open_followup(
            dispatcher.intake,
            followup_id=followup.id,
            original=original,
            subject=f"Retorno de pesquisa: NPS {response.nps} (protocolo {original.protocol})",
            description=response.comment,
        )
    except intake_client.IntakeUnavailable as exc:
        log.warning("follow-up %s: intake refused or unreachable: %s", followup.id, exc)
        followup.attempts += 1
        followup.last_error = str(exc)[:200]
        followup.due_at = now + domain.retry_delay(
            followup.attempts,
            first=dispatcher.policy.first_backoff,
            maximum=dispatcher.policy.max_backoff,
        )
        return True
    followup.status, followup.due_at = "open", None
    followup.followup_interaction_id = opened
    followup.opened_at = now
    event = FollowupOpened(
        occurred_at=now,
        interaction_id=followup.interaction_id,
        survey_id=followup.survey_id,
        followup_id=followup.id,
        followup_interaction_id=opened,
        reason_code=domain.FOLLOWUP_REASON,
    )
    surveyed = await session.get(Survey, followup.survey_id)
    await emit(session, event, correlation_id=surveyed.correlation_id if surveyed else None)
    return True


async def list_followups(
    session: AsyncSession, *, status: str | None, now: datetime, limit: int
) -> list[FollowupOut]:
    """List follow-ups, newest first, with their age and closing reason."""
    query = select(Followup).order_by(Followup.created_at.desc()).limit(limit)
    if status == "open":
        query = query.where(Followup.status.in_(("pending", "open")))
    elif status == "closed":
        query = query.where(Followup.status == "closed")
    return [_followup_out(followup, now) for followup in await session.scalars(query)]


def _followup_out(followup: Followup, now: datetime) -> FollowupOut:
    end = followup.closed_at or now
    return FollowupOut(
        id=followup.id,
        survey_id=followup.survey_id,
        interaction_id=followup.interaction_id,
        followup_interaction_id=followup.followup_interaction_id,
        status=followup.status,
        created_at=followup.created_at,
        opened_at=followup.opened_at,
        closed_at=followup.closed_at,
        age_seconds=max((end - followup.created_at).total_seconds(), 0.0),
        reason_code=followup.reason_code,
    )
