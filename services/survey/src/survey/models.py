"""Tables of the survey service (SQLAlchemy 2)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    ARRAY,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from atende_events.db import NAMING_CONVENTION

TZ = DateTime(timezone=True)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Reception(Base):
    """What survey learnt from interaction.received: the priority eligibility needs."""

    __tablename__ = "receptions"

    interaction_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    priority: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(TZ)


class Survey(Base):
    """One survey decision per resolved interaction: scheduled, sent, answered, skipped..."""

    __tablename__ = "surveys"
    __table_args__ = (
        Index("ix_surveys_status_due_at", "status", "due_at"),
        Index("ix_surveys_party_ref_resolved_at", "party_ref", "resolved_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    interaction_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    party_kind: Mapped[str] = mapped_column(String(16))
    party_ref: Mapped[str] = mapped_column(String(44))
    queue: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    """scheduled, dispatched, answered, expired, skipped or failed."""
    skip_reason: Mapped[str | None] = mapped_column(String(32))
    resolved_at: Mapped[datetime] = mapped_column(TZ)
    due_at: Mapped[datetime | None] = mapped_column(TZ)
    """When the timer next acts on it: send (scheduled) or expire (dispatched)."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(200))
    medium: Mapped[str | None] = mapped_column(String(16))
    locale: Mapped[str | None] = mapped_column(String(35))
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    dispatched_at: Mapped[datetime | None] = mapped_column(TZ)
    expires_at: Mapped[datetime | None] = mapped_column(TZ)
    correlation_id: Mapped[str | None] = mapped_column(String(256))
    """Of the resolution, so every later event of the survey joins the interaction's journey."""
    created_at: Mapped[datetime] = mapped_column(TZ)


class Response(Base):
    """A person's answer to a survey."""

    __tablename__ = "responses"

    survey_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("surveys.id"), primary_key=True)
    nps: Mapped[int] = mapped_column(SmallInteger)
    category: Mapped[str] = mapped_column(String(16))
    csat: Mapped[int | None] = mapped_column(SmallInteger)
    comment: Mapped[str | None] = mapped_column(Text)
    may_contact: Mapped[bool] = mapped_column(Boolean)
    themes: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    answered_at: Mapped[datetime] = mapped_column(TZ)


class OptOut(Base):
    """A party that asked for no more surveys."""

    __tablename__ = "opt_outs"

    party_ref: Mapped[str] = mapped_column(String(44), primary_key=True)
    survey_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    opted_out_at: Mapped[datetime] = mapped_column(TZ)


class Followup(Base):
    """The call-back a detractor who allows contact gets: pending, open, then closed."""

    __tablename__ = "followups"
    __table_args__ = (Index("ix_followups_status_due_at", "status", "due_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    survey_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("surveys.id"), unique=True)
    interaction_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    """The surveyed interaction."""
    followup_interaction_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, unique=True)
    status: Mapped[str] = mapped_column(String(16))
    """pending (intake not yet asked), open or closed."""
    due_at: Mapped[datetime | None] = mapped_column(TZ)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(200))
    reason_code: Mapped[str | None] = mapped_column(String(64))
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TZ)
    opened_at: Mapped[datetime | None] = mapped_column(TZ)
    closed_at: Mapped[datetime | None] = mapped_column(TZ)
