"""The timer's work on surveys: send due links (once, locked), retry, fail, expire."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from atende_events.intake import Channel
from atende_events.survey import (
    SkipReason,
    SurveyDispatched,
    SurveyExpired,
    SurveyFailed,
    SurveyMedium,
)
from survey import domain, intake_client, senders
from survey.config import Settings
from survey.domain import DispatchPolicy, Messages
from survey.models import OptOut, Survey
from survey.service._events import emit, skip_event

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Dispatcher:
    """What sending a link takes: the rules, the texts and the clients of intake and the webhook."""

    settings: Settings
    policy: DispatchPolicy
    messages: Messages
    intake: httpx.AsyncClient
    webhook: httpx.AsyncClient


async def dispatch_next(session: AsyncSession, *, dispatcher: Dispatcher, now: datetime) -> bool:
    """Send the link of one due survey, locked so no other instance sends it; False when none."""
    survey = await session.scalar(
        select(Survey)
        .where(Survey.status == "scheduled", Survey.due_at <= now)
        .order_by(Survey.due_at)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if survey is None:
        return False
    policy = dispatcher.policy
    if domain.window_passed(survey.resolved_at, now, policy.dispatch_limit):
        await _skip(session, survey, SkipReason.DISPATCH_WINDOW_PASSED, now)
        return True
    if await session.scalar(select(OptOut.party_ref).where(OptOut.party_ref == survey.party_ref)):
        await _skip(session, survey, SkipReason.OPTED_OUT, now)
        return True
    try:
        found = await intake_client.interaction(dispatcher.intake, survey.interaction_id)
        reach = (
            await intake_client.contact(
                dispatcher.intake, kind=found.party_kind, party_id=found.party_id
            )
            if found is not None
            else None
        )
    except intake_client.IntakeUnavailable as exc:
        # The medium is not known yet, so this is not a failed send: retry until the window
        # closes, where the survey is skipped with dispatch_window_passed.
        log.warning("survey %s: contact lookup failed: %s", survey.id, exc)
        _retry_later(survey, policy, now, f"intake: {exc}")
        return True
    medium = (
        domain.choose_medium(
            channel=Channel(survey.channel),
            email=reach.email,
            phone=reach.phone,
            phone_medium=policy.phone_medium,
        )
        if reach is not None
        else None
    )
    if found is None or reach is None or medium is None:
        await _skip(session, survey, SkipReason.NO_CONTACT, now)
        return True

    token = domain.new_token(survey.id)
    locale = dispatcher.messages.locale_for(found.locale)
    subject, body = domain.link_message(
        dispatcher.messages.locales[locale],
        medium=medium,
        protocol=found.protocol,
        link=f"{dispatcher.settings.public_base_url.rstrip('/')}/v1/surveys/{token}",
        days=policy.token_lifetime.days,
    )
    try:
        if medium is SurveyMedium.EMAIL:
            assert reach.email is not None
            await senders.send_email(
                dispatcher.settings, to=reach.email, subject=subject, body=body
            )
        else:
            assert reach.phone is not None
            await senders.send_short_message(
                dispatcher.webhook,
                dispatcher.settings,
                medium=medium,
                to=reach.phone,
                text=body,
                reference=str(survey.id),
            )
    except senders.SendFailed as exc:
        log.warning("survey %s: send by %s failed: %s", survey.id, medium.value, exc)
        survey.medium = medium.value
        if survey.attempts + 1 >= policy.attempts:
            survey.attempts += 1
            survey.status, survey.due_at, survey.last_error = "failed", None, str(exc)[:200]
            failed = SurveyFailed(
                occurred_at=now,
                interaction_id=survey.interaction_id,
                survey_id=survey.id,
                medium=medium,
                reason_code="send_failed",
            )
            await emit(session, failed, correlation_id=survey.correlation_id)
        else:
            _retry_later(survey, policy, now, str(exc))
        return True

    survey.attempts += 1
    survey.status = "dispatched"
    survey.medium = medium.value
    survey.locale = locale
    survey.token_hash = domain.hash_token(token)
    survey.dispatched_at = now
    survey.expires_at = survey.due_at = now + policy.token_lifetime
    dispatched = SurveyDispatched(
        occurred_at=now,
        interaction_id=survey.interaction_id,
        survey_id=survey.id,
        medium=medium,
        expires_at=survey.expires_at,
    )
    await emit(session, dispatched, correlation_id=survey.correlation_id)
    return True


def _retry_later(survey: Survey, policy: DispatchPolicy, now: datetime, error: str) -> None:
    survey.attempts += 1
    survey.last_error = error[:200]
    survey.due_at = now + domain.retry_delay(
        survey.attempts, first=policy.first_backoff, maximum=policy.max_backoff
    )


async def _skip(session: AsyncSession, survey: Survey, reason: SkipReason, now: datetime) -> None:
    survey.status, survey.skip_reason, survey.due_at = "skipped", reason.value, None
    await skip_event(session, survey, reason, now, correlation_id=survey.correlation_id)


async def expire_due(session: AsyncSession, *, now: datetime, limit: int) -> int:
    """Expire links past their lifetime that nobody answered; return how many."""
    surveys = (
        await session.scalars(
            select(Survey)
            .where(Survey.status == "dispatched", Survey.due_at <= now)
            .order_by(Survey.due_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    for survey in surveys:
        survey.status, survey.due_at = "expired", None
        expired = SurveyExpired(
            occurred_at=now, interaction_id=survey.interaction_id, survey_id=survey.id
        )
        await emit(session, expired, correlation_id=survey.correlation_id)
    return len(surveys)
