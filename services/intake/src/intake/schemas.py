"""Request and response bodies of intake's HTTP API."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from atende_events.demand_types import demand_codes
from atende_events.envelope import Code
from atende_events.intake import (
    Channel,
    ExternalReference,
    Locale,
    PartyKind,
    Priority,
    ProtocolNumber,
)

PartyId = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
        description="The party's id at the health plan: card number, CPF, CNPJ or provider code.",
    ),
]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Email = Annotated[
    str, Field(max_length=254, pattern=r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$", examples=["a@b.com"])
]
Phone = Annotated[str, Field(pattern=r"^\+?[0-9][0-9 ()-]{6,30}$", examples=["+55 11 3003-0000"])]
Subject = Annotated[str, Field(min_length=1, max_length=200)]
Description = Annotated[str, Field(min_length=1, max_length=10_000)]

# PostgreSQL cannot store NUL in text, and a lone surrogate (JSON allows "\ud800") is not UTF-8.
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


class Body(BaseModel):
    """A request body: unknown fields are refused, so a typo never passes silently."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: object) -> object:
        """Refuse text the database cannot store, naming the field instead of failing later."""
        if isinstance(value, str) and _UNSTORABLE.search(value):
            raise ValueError("must not contain NUL characters or unpaired surrogates")
        return value


class PartyIn(Body):
    """Who got in touch, and how to reach them (stored by intake only, never in events)."""

    kind: PartyKind
    id: PartyId
    name: Name | None = None
    email: Email | None = None
    phone: Phone | None = None


class InteractionIn(Body):
    """A contact through any channel, as the channel front end reports it."""

    channel: Channel
    party: PartyIn
    demand_type: Code | None = None
    subject: Subject | None = None
    description: Description | None = None
    priority: Priority = Priority.NORMAL
    related_protocol: ProtocolNumber | None = None
    """An earlier protocol this contact cites (the ombudsman's second instance, a complaint)."""
    external_reference: ExternalReference | None = None
    """Another body's number for the demand: the ANS demand number of a NIP (the regulator
    channel), whose deadline counts from the notification date given as `occurred_at`."""
    occurred_at: AwareDatetime | None = None
    locale: Annotated[Locale, Field(max_length=35)] | None = None  # the column's length

    @field_validator("demand_type")
    @classmethod
    def _known_demand_type(cls, value: str | None) -> str | None:
        """Refuse a demand type the taxonomy does not list, naming the ones it does."""
        if value is not None and value not in demand_codes():
            raise ValueError(f"unknown demand type {value!r}; allowed: {', '.join(demand_codes())}")
        return value


class Answer(BaseModel):
    """A response body."""

    model_config = ConfigDict(frozen=True)


class InteractionCreated(Answer):
    """The protocol number given to a new interaction."""

    id: UUID
    protocol: str
    status: str
    created_at: datetime


class HistoryItem(Answer):
    event_type: str
    occurred_at: datetime
    status: str | None
    queue: str | None


class DeadlineOut(Answer):
    kind: str
    clock_type: str
    due_at: datetime
    state: str


class PartyRefOut(Answer):
    kind: str
    id: str


class InteractionOut(Answer):
    """An interaction with its current status, deadlines and history."""

    id: UUID
    protocol: str
    channel: str
    party: PartyRefOut
    demand_type: str | None
    priority: str
    subject: str | None
    description: str | None
    locale: str | None
    related_protocol: str | None
    external_reference: str | None = None
    occurred_at: datetime
    received_at: datetime
    status: str
    queue: str | None
    completed_at: datetime | None
    sla_breached: bool
    deadlines: list[DeadlineOut]
    history: list[HistoryItem]


class TimelineItem(Answer):
    id: UUID
    protocol: str
    channel: str
    demand_type: str | None
    subject: str | None
    status: str
    queue: str | None
    related_protocol: str | None
    received_at: datetime
    completed_at: datetime | None


class Timeline(Answer):
    """One page of a party's interactions, newest first."""

    items: list[TimelineItem]
    next_cursor: str | None
    """Pass as `cursor` for the next (older) page; null on the last page."""


class PartyOut(Answer):
    """A party's contact data."""

    kind: str
    id: str
    name: str | None
    email: str | None
    phone: str | None
    updated_at: datetime


class TrackDeadline(Answer):
    clock_type: str
    due_at: datetime
    state: str


class TrackAnswer(Answer):
    """The conclusive answer the person was given (ANS RN 623/2024: in writing, reasoned)."""

    outcome: str
    """authorised, partially_authorised, denied, informed or withdrawn."""
    outcome_label: str
    """The outcome in the words of the request's language."""
    answer: str | None
    """The written answer, as the agent wrote it for the person."""
    denial_reason: str | None
    legal_basis: str | None
    """The contract clause or legal provision behind a denial."""
    answered_at: datetime


class Tracking(Answer):
    """What a person may see of their own request: no agent, no party data, no internal notes."""

    protocol: str
    status: str
    queue_label: str | None
    """The team handling it, in words a person understands."""
    received_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    deadlines: list[TrackDeadline]
    answer: TrackAnswer | None = None
    """The latest answer given; none until the request is answered."""


class DemandDeadlineOut(Answer):
    norm: str
    provision: str
    business_days: int | None
    immediate: bool


class DemandTypeOut(Answer):
    code: str
    coverage: bool
    """True for a coverage (assistencial) request in the sense of ANS RN 623/2024."""
    labels: dict[str, str]
    """The name to show, per language (pt-BR, es, en, de)."""
    deadline: DemandDeadlineOut


class DemandTypes(Answer):
    """The demand taxonomy in force: the codes `demand_type` accepts."""

    version: int
    items: list[DemandTypeOut]
