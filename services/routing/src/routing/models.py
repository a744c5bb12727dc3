"""Tables of the routing service (SQLAlchemy 2)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    MetaData,
    SmallInteger,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from atende_events.db import NAMING_CONVENTION

OPEN_ASSIGNMENT = "status IN ('offered', 'accepted', 'waiting')"
"""An assignment that holds the interaction and a slot of the agent's capacity."""


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Agent(Base):
    """An agent: skills (queue -> proficiency), capacity per channel, and status."""

    __tablename__ = "agents"
    __table_args__ = (CheckConstraint("status IN ('available', 'away', 'offline')", name="status"),)

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    skills: Mapped[dict[str, Any]] = mapped_column(JSONB)
    capacity: Mapped[dict[str, Any]] = mapped_column(JSONB)
    idle_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """Since when the agent has had no new work: the longest idle is offered first."""
    status_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Interaction(Base):
    """An interaction routing keeps: its classification, place in the queue and state."""

    __tablename__ = "interactions"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'offered', 'assigned', 'resolved')", name="status"),
        # The waiting work in the order it is offered.
        Index(
            "ix_interactions_waiting",
            "rank",
            "due_at",
            "received_at",
            postgresql_where=text("status = 'queued'"),
        ),
        Index(
            "ix_interactions_escalate_at",
            "escalate_at",
            postgresql_where=text("status = 'queued' AND NOT escalated"),
        ),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True)
    protocol: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(Text)
    party_kind: Mapped[str] = mapped_column(Text)
    party_ref: Mapped[str] = mapped_column(Text)
    priority: Mapped[str] = mapped_column(Text)
    demand_type: Mapped[str] = mapped_column(Text)
    demand_type_inferred: Mapped[bool] = mapped_column(Boolean)
    related_interaction_id: Mapped[UUID | None] = mapped_column()
    queue: Mapped[str] = mapped_column(Text)
    matched_rule: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    rank: Mapped[int] = mapped_column(SmallInteger)
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """The earliest deadline of its open SLA clocks."""
    breached: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    queued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    """When it last entered a queue (at receipt, after a decline or a transfer)."""
    escalate_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    escalated: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    correlation_id: Mapped[str | None] = mapped_column(Text)


class Assignment(Base):
    """An offer of an interaction to an agent and, once accepted, the agent's work on it."""

    __tablename__ = "assignments"
    __table_args__ = (
        CheckConstraint(
            "status IN ('offered', 'accepted', 'waiting', 'rejected', 'timed_out', "
            "'transferred', 'completed')",
            name="status",
        ),
        # The database itself refuses a second open offer or assignment of one interaction.
        Index(
            "uq_assignments_open_interaction",
            "interaction_id",
            unique=True,
            postgresql_where=text(OPEN_ASSIGNMENT),
        ),
        Index("ix_assignments_agent_open", "agent_id", postgresql_where=text(OPEN_ASSIGNMENT)),
        Index(
            "ix_assignments_offer_expiry",
            "expires_at",
            postgresql_where=text("status = 'offered'"),
        ),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True)
    interaction_id: Mapped[UUID] = mapped_column(ForeignKey("interactions.id"), index=True)
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id"))
    queue: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    offered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolution: Mapped[str | None] = mapped_column(Text)
    sensitive: Mapped[bool | None] = mapped_column(Boolean)
    reason_code: Mapped[str | None] = mapped_column(Text)


class Note(Base):
    """Context an agent left on an interaction (at a transfer or completion) for the next one."""

    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    interaction_id: Mapped[UUID] = mapped_column(ForeignKey("interactions.id"), index=True)
    assignment_id: Mapped[UUID] = mapped_column(ForeignKey("assignments.id"))
    agent_id: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SlaClock(Base):
    """The latest deadline sla reported for one clock; kept even before the interaction arrives."""

    __tablename__ = "sla_clocks"

    clock_id: Mapped[UUID] = mapped_column(primary_key=True)
    interaction_id: Mapped[UUID] = mapped_column(index=True)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    as_of: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    """When the event that set due_at happened: an older event never overwrites a newer one."""
    breached: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    stopped: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
