"""Events the survey service produces: surveys, their answers and the follow-ups they open."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Self
from uuid import UUID

from pydantic import Field, model_validator

from atende_events.envelope import Code, Content, EventData, UtcDatetime, source_of
from atende_events.intake import Channel, PartyKind, PartyRef
from atende_events.topics import SURVEYS

SOURCE = source_of("survey")

NpsScore = Annotated[int, Field(ge=0, le=10)]
CsatScore = Annotated[int, Field(ge=1, le=5)]


class SurveyMedium(StrEnum):
    """How a survey link reaches the person."""

    EMAIL = "email"
    SMS = "sms"
    WHATSAPP = "whatsapp"


class NpsCategory(StrEnum):
    """Where an NPS answer falls: promoter 9-10, passive 7-8, detractor 0-6."""

    PROMOTER = "promoter"
    PASSIVE = "passive"
    DETRACTOR = "detractor"


class SkipReason(StrEnum):
    """Which eligibility rule kept an interaction from being surveyed."""

    UNRESOLVED = "unresolved"
    SENSITIVE = "sensitive"
    CHANNEL_NOT_SURVEYED = "channel_not_surveyed"
    NO_CONSENT = "no_consent"
    OPTED_OUT = "opted_out"
    SURVEYED_RECENTLY = "surveyed_recently"
    NO_CONTACT = "no_contact"
    DISPATCH_WINDOW_PASSED = "dispatch_window_passed"


def nps_category(score: int) -> NpsCategory:
    """Place an NPS answer among promoters, passives and detractors."""
    if not 0 <= score <= 10:
        raise ValueError(f"an NPS answer is 0 to 10, not {score}")
    if score >= 9:
        return NpsCategory.PROMOTER
    if score >= 7:
        return NpsCategory.PASSIVE
    return NpsCategory.DETRACTOR


class SurveyScheduled(EventData):
    """A resolved interaction is eligible and its survey will be sent."""

    event_type = "atende.survey.scheduled.v1"
    topic = SURVEYS

    interaction_id: UUID
    survey_id: UUID
    channel: Channel
    party_kind: PartyKind
    party_ref: PartyRef
    due_at: UtcDatetime
    """When the link will be sent: never later than 3 days after the resolution."""


class SurveySkipped(EventData):
    """An interaction will not be surveyed."""

    event_type = "atende.survey.skipped.v1"
    topic = SURVEYS

    interaction_id: UUID
    survey_id: UUID
    reason: SkipReason


class SurveyDispatched(EventData):
    """The survey's single-use link was sent."""

    event_type = "atende.survey.dispatched.v1"
    topic = SURVEYS

    interaction_id: UUID
    survey_id: UUID
    medium: SurveyMedium
    expires_at: UtcDatetime
    """After this moment the link no longer takes answers."""


class SurveyFailed(EventData):
    """The survey's link could not be sent."""

    event_type = "atende.survey.failed.v1"
    topic = SURVEYS

    interaction_id: UUID
    survey_id: UUID
    medium: SurveyMedium
    reason_code: Code | None = None


class SurveyAnswered(EventData):
    """The person answered the survey."""

    event_type = "atende.survey.answered.v1"
    topic = SURVEYS

    interaction_id: UUID
    survey_id: UUID
    nps: NpsScore
    category: NpsCategory
    csat: CsatScore | None = None
    may_contact: bool
    """True when the person allows a call back about the answer."""
    themes: tuple[Code, ...] = ()
    """The drivers of the answer (e.g. wait_time, courtesy), for key-driver analysis."""
    content: Content | None = None
    """The person's comment."""

    @model_validator(mode="after")
    def _category_follows_nps(self) -> Self:
        if self.category != nps_category(self.nps):
            raise ValueError(f"an NPS of {self.nps} is a {nps_category(self.nps)}")
        return self


class SurveyExpired(EventData):
    """The survey's link expired unanswered."""

    event_type = "atende.survey.expired.v1"
    topic = SURVEYS

    interaction_id: UUID
    survey_id: UUID


class FollowupOpened(EventData):
    """A detractor who allows contact gets a follow-up interaction."""

    event_type = "atende.followup.opened.v1"
    topic = SURVEYS

    interaction_id: UUID
    """The surveyed interaction."""
    survey_id: UUID
    followup_id: UUID
    followup_interaction_id: UUID
    """The outbound interaction intake opened for the follow-up."""
    reason_code: Code


class FollowupClosed(EventData):
    """A follow-up was closed with a reason code and notes."""

    event_type = "atende.followup.closed.v1"
    topic = SURVEYS

    interaction_id: UUID
    """The surveyed interaction."""
    survey_id: UUID
    followup_id: UUID
    followup_interaction_id: UUID
    reason_code: Code
    content: Content | None = None
    """The notes of whoever closed it."""


EVENTS: tuple[type[EventData], ...] = (
    SurveyScheduled,
    SurveySkipped,
    SurveyDispatched,
    SurveyFailed,
    SurveyAnswered,
    SurveyExpired,
    FollowupOpened,
    FollowupClosed,
)
