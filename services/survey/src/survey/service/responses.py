"""Taking a survey by its token: the questions, the one answer, the opt-out."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from atende_events.survey import SurveyAnswered
from survey import domain
from survey.domain import Messages, Themes
from survey.models import Followup, OptOut, Response, Survey
from survey.schemas import Answered, Question, ResponseIn, SurveyOut
from survey.service._events import emit


class NotFound(Exception):
    """No survey has this token."""


class Gone(Exception):
    """The survey expired or was answered."""


class AlreadyAnswered(Exception):
    """The survey was answered before."""


async def _by_token(session: AsyncSession, token: str, *, lock: bool = False) -> Survey:
    survey_id = domain.survey_id_of(token)
    if survey_id is not None:
        # The dispatcher holds the row until the link it sent is committed: wait for it.
        await session.execute(
            select(Survey.id).where(Survey.id == survey_id).with_for_update(read=True)
        )
    query = select(Survey).where(Survey.token_hash == domain.hash_token(token))
    survey = await session.scalar(query.with_for_update() if lock else query)
    if survey is None:
        raise NotFound
    return survey


def _closed(survey: Survey, now: datetime) -> bool:
    return survey.status != "dispatched" or (
        survey.expires_at is not None and survey.expires_at <= now
    )


async def questions(
    session: AsyncSession, *, token: str, messages: Messages, now: datetime
) -> SurveyOut:
    """Give the questions of a survey still open, in the person's language."""
    survey = await _by_token(session, token)
    if _closed(survey, now):
        raise Gone
    assert survey.locale is not None and survey.expires_at is not None
    texts = messages.locales[survey.locale].questions
    return SurveyOut(
        locale=survey.locale,
        expires_at=survey.expires_at,
        questions=[
            Question(id="nps", text=texts.nps, kind="scale", required=True, min=0, max=10),
            Question(id="csat", text=texts.csat, kind="scale", required=False, min=1, max=5),
            Question(id="comment", text=texts.comment, kind="text", required=False),
            Question(id="may_contact", text=texts.may_contact, kind="boolean", required=False),
        ],
    )


async def answer(
    session: AsyncSession, *, token: str, response: ResponseIn, themes: Themes, now: datetime
) -> Answered:
    """Record the one answer a survey takes, and open a follow-up for a detractor who allows it."""
    survey = await _by_token(session, token, lock=True)
    if survey.status == "answered":
        raise AlreadyAnswered
    if _closed(survey, now):
        raise Gone
    category = domain.categorise(response.nps)
    comment = response.comment.strip() if response.comment and response.comment.strip() else None
    tagged = domain.tag_themes(comment, themes)
    session.add(
        Response(
            survey_id=survey.id,
            nps=response.nps,
            category=category.value,
            csat=response.csat,
            comment=comment,
            may_contact=response.may_contact,
            themes=list(tagged),
            answered_at=now,
        )
    )
    survey.status, survey.due_at = "answered", None
    answered = SurveyAnswered(
        occurred_at=now,
        interaction_id=survey.interaction_id,
        survey_id=survey.id,
        nps=response.nps,
        category=category,
        csat=response.csat,
        may_contact=response.may_contact,
        themes=tagged,
        content=comment,
    )
    await emit(session, answered, correlation_id=survey.correlation_id)
    followup = domain.followup_wanted(category, may_contact=response.may_contact)
    if followup:
        session.add(
            Followup(
                id=uuid.uuid4(),
                survey_id=survey.id,
                interaction_id=survey.interaction_id,
                status="pending",
                due_at=now,
                attempts=0,
                created_at=now,
            )
        )
    return Answered(category=category, followup=followup)


async def opt_out(session: AsyncSession, *, token: str, now: datetime) -> None:
    """Stop every future survey to the party this survey went to."""
    survey = await _by_token(session, token)
    await session.execute(
        insert(OptOut)
        .values(party_ref=survey.party_ref, survey_id=survey.id, opted_out_at=now)
        .on_conflict_do_nothing()
    )
