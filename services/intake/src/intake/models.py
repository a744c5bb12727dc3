"""Tables of the intake service (SQLAlchemy 2)."""

from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    Sequence,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from atende_events.db import NAMING_CONVENTION


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# Non-transactional, so concurrent requests never wait on each other for a number.
protocol_numbers = Sequence("protocol_numbers", metadata=Base.metadata)


class ProtocolDay(Base):
    """The sequence value a day's protocol numbers count from."""

    __tablename__ = "protocol_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    base: Mapped[int] = mapped_column(BigInteger)


class Party(Base):
    """A member, provider or employer and how to reach them: held by intake only."""

    __tablename__ = "parties"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    party_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Interaction(Base):
    """One contact with its protocol number and the status its lifecycle events left it in."""

    __tablename__ = "interactions"
    __table_args__ = (
        Index(None, "party_kind", "party_id", "received_at", "id"),
        Index(None, "related_interaction_id"),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True)
    protocol: Mapped[str] = mapped_column(String(20), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    party_kind: Mapped[str] = mapped_column(String(16))
    party_id: Mapped[str] = mapped_column(String(64))
    demand_type: Mapped[str | None] = mapped_column(String(64))
    priority: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    locale: Mapped[str | None] = mapped_column(String(35))
    related_interaction_id: Mapped[UUID | None] = mapped_column(ForeignKey("interactions.id"))
    external_reference: Mapped[str | None] = mapped_column(String(40))
    """Another body's number for the demand: the ANS demand number of a NIP."""
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16))
    status_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    """When the event that set the status happened (not when it arrived)."""
    queue: Mapped[str | None] = mapped_column(String(64))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sla_breached: Mapped[bool] = mapped_column(Boolean, default=False)


class HistoryEntry(Base):
    """One lifecycle event of an interaction, in the order the events happened."""

    __tablename__ = "interaction_history"
    __table_args__ = (Index(None, "interaction_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    interaction_id: Mapped[UUID] = mapped_column(ForeignKey("interactions.id"))
    event_id: Mapped[UUID | None] = mapped_column()
    event_type: Mapped[str] = mapped_column(String(80))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str | None] = mapped_column(String(16))
    """The status this event leads to; None for deadline events."""
    queue: Mapped[str | None] = mapped_column(String(64))
    applied: Mapped[bool] = mapped_column(Boolean)
    """False when a later event had already moved the interaction further."""


class Deadline(Base):
    """A deadline clock sla keeps for an interaction, as its latest event describes it."""

    __tablename__ = "deadlines"
    __table_args__ = (Index(None, "interaction_id"),)

    clock_id: Mapped[UUID] = mapped_column(primary_key=True)
    interaction_id: Mapped[UUID] = mapped_column(ForeignKey("interactions.id"))
    kind: Mapped[str] = mapped_column(String(16))
    clock_type: Mapped[str] = mapped_column(String(16))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_at_as_of: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    state: Mapped[str] = mapped_column(String(16))
    """running, paused, met or breached."""


class Answer(Base):
    """An answer given to the person: its outcome, grounds and written text, as routing sent it.

    An interaction reopened and answered again has several; the latest is the one in force.
    """

    __tablename__ = "answers"
    __table_args__ = (Index(None, "interaction_id", "answered_at"),)

    event_id: Mapped[UUID] = mapped_column(primary_key=True)
    """The `interaction.resolved` event that brought it."""
    interaction_id: Mapped[UUID] = mapped_column(ForeignKey("interactions.id"))
    outcome: Mapped[str] = mapped_column(String(32))
    denial_reason: Mapped[str | None] = mapped_column(String(64))
    legal_basis: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str | None] = mapped_column(Text)
    """The written answer (None when a consumer before intake dropped the event's content)."""
    answered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class IdempotentRequest(Base):
    """A request made with an Idempotency-Key, and the answer it got."""

    __tablename__ = "idempotent_requests"
    __table_args__ = (Index(None, "created_at"),)

    client: Mapped[str] = mapped_column(String(64), primary_key=True)
    """A hash of the API key that made the request: keys of different callers never collide."""
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    answer: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
