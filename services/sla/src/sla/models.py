"""Tables of the sla service (SQLAlchemy 2)."""

from datetime import datetime
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from atende_events.db import NAMING_CONVENTION


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TrackedInteraction(Base):
    """What sla knows of an interaction, whatever order its events came in."""

    __tablename__ = "sla_interactions"

    interaction_id: Mapped[UUID] = mapped_column(primary_key=True)
    received_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    channel: Mapped[str | None] = mapped_column(String(32))
    party_kind: Mapped[str | None] = mapped_column(String(32))
    priority: Mapped[str | None] = mapped_column(String(32))
    demand_type: Mapped[str | None] = mapped_column(String(64))
    queue: Mapped[str | None] = mapped_column(String(64))
    first_accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """The first completion, resolved or not: it stops operational resolution clocks."""
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """The first conclusive answer (resolution "resolved"): it stops regulatory clocks."""
    correlation_id: Mapped[str | None] = mapped_column(String(256))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class Pause(Base):
    """A span during which the interaction waited for the customer."""

    __tablename__ = "sla_pauses"
    __table_args__ = (Index(None, "interaction_id", "waiting_at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    interaction_id: Mapped[UUID]
    waiting_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resumed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Clock(Base):
    """A deadline clock: the deadline and warning rows the due-timer takes."""

    __tablename__ = "sla_clocks"
    __table_args__ = (
        UniqueConstraint("interaction_id", "regime", "kind", "clock_type"),
        CheckConstraint("state IN ('running', 'paused', 'met', 'breached')", name="state"),
        Index(None, "state", "due_at"),
        Index(None, "state", "warn_at"),
        # The due-timer's warning look: only clocks still to be warned, so it never walks the
        # warned ones (a fifth of all running clocks with the default 80% threshold).
        Index(
            "ix_sla_clocks_to_warn",
            "warn_at",
            postgresql_where=text(
                "state = 'running' AND warned_at IS NULL AND quarantined_at IS NULL"
            ),
        ),
    )

    clock_id: Mapped[UUID] = mapped_column(primary_key=True)
    interaction_id: Mapped[UUID]
    kind: Mapped[str] = mapped_column(String(32))
    clock_type: Mapped[str] = mapped_column(String(32))
    regime: Mapped[str] = mapped_column(String(64))
    """The rule family of its policy (rn623, rn323, rn566, nip, operational): one clock per
    regime, kind and type."""
    policy_id: Mapped[str] = mapped_column(String(64))
    """The policy it follows now (a re-decision may change it; sla.redecided says so)."""
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    budget_seconds: Mapped[float] = mapped_column(Float)
    """The business time the clock has, from its start to its deadline (extensions included)."""
    warn_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    state: Mapped[str] = mapped_column(String(16))
    warned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    business_seconds_elapsed: Mapped[float | None] = mapped_column(Float)
    """Business time used, set when the clock is met or breached (or paused)."""
    extended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    timer_failures: Mapped[int] = mapped_column(Integer, server_default="0")
    """Times in a row the due-timer failed to warn or breach this clock."""
    timer_error: Mapped[str | None] = mapped_column(String(500))
    """The due-timer's last failure on this clock."""
    quarantined_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """Set when the due-timer gave up on the clock; clear it to let the timer try again."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Watermark(Base):
    """The highest low watermark handled from one producer on one topic partition."""

    __tablename__ = "sla_watermarks"

    producer: Mapped[str] = mapped_column(String(64), primary_key=True)
    topic: Mapped[str] = mapped_column(String(255), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    partitions: Mapped[int] = mapped_column(Integer)
    """The topic's partition count when the watermark was sent."""
    low_watermark: Mapped[datetime] = mapped_column(DateTime(timezone=True))
