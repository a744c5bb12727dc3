"""Request and response bodies of survey's HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from atende_events.survey import CsatScore, NpsCategory, NpsScore


class ResponseIn(BaseModel):
    """A person's answer: NPS required, CSAT, comment and permission to call back optional."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    nps: NpsScore
    csat: CsatScore | None = None
    comment: Annotated[str, Field(max_length=2000)] | None = None
    may_contact: bool = False


class Question(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: Literal["nps", "csat", "comment", "may_contact"]
    text: str
    kind: Literal["scale", "text", "boolean"]
    required: bool
    min: int | None = None
    max: int | None = None


class SurveyOut(BaseModel):
    """The questions of a survey, in the person's language."""

    model_config = ConfigDict(frozen=True)

    locale: str
    expires_at: datetime
    questions: list[Question]


class Answered(BaseModel):
    """The answer was recorded."""

    model_config = ConfigDict(frozen=True)

    category: NpsCategory
    followup: bool
    """True when someone will call back."""


class FollowupOut(BaseModel):
    """A follow-up of a detractor: which survey and interactions it links, its age and outcome."""

    model_config = ConfigDict(frozen=True)

    id: UUID
    survey_id: UUID
    interaction_id: UUID
    followup_interaction_id: UUID | None
    status: str
    created_at: datetime
    opened_at: datetime | None
    closed_at: datetime | None
    age_seconds: float
    """Open: since it was created; closed: how long it took."""
    reason_code: str | None


class Followups(BaseModel):
    model_config = ConfigDict(frozen=True)

    items: list[FollowupOut]
