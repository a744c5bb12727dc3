"""Read models of the analytics service (SQLAlchemy 2): one row per entity, merged from events.

Every column is written by an order-independent merge (see service.py): the earliest moment of
a first fact, the latest value of a changing one, a terminal outcome that nothing overwrites.
"""

from datetime import datetime
from uuid import UUID

from sqlalchemy import (
    ARRAY,
    BigInteger,
    CheckConstraint,
    Column,
    Computed,
    Date,
    DateTime,
    Float,
    Index,
    LargeBinary,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from analytics.domain import MEASURES
from atende_events.db import NAMING_CONVENTION

TZ = DateTime(timezone=True)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Interaction(Base):
    """An interaction as far as the events told: who, how, where it queues, how it ended."""

    __tablename__ = "interactions"

    interaction_id: Mapped[UUID] = mapped_column(primary_key=True)
    protocol: Mapped[str | None] = mapped_column(String(32))
    channel: Mapped[str | None] = mapped_column(String(32))
    party_kind: Mapped[str | None] = mapped_column(String(32))
    party_ref: Mapped[str | None] = mapped_column(String(64))
    given_demand_type: Mapped[str | None] = mapped_column(String(64))
    original_demand_type: Mapped[str | None] = mapped_column(String(64))
    """The demand type before an agent first corrected it; None when never reclassified."""
    routed_demand_type: Mapped[str | None] = mapped_column(String(64))
    routed_demand_at: Mapped[datetime | None] = mapped_column(TZ)
    demand_type: Mapped[str | None] = mapped_column(
        String(64), Computed("coalesce(routed_demand_type, given_demand_type)", persisted=True)
    )
    priority: Mapped[str | None] = mapped_column(String(16))
    related_interaction_id: Mapped[UUID | None] = mapped_column()
    received_at: Mapped[datetime | None] = mapped_column(TZ)
    queue: Mapped[str | None] = mapped_column(String(64))
    queue_at: Mapped[datetime | None] = mapped_column(TZ)
    state: Mapped[str | None] = mapped_column(String(16))
    state_rank: Mapped[int | None] = mapped_column(SmallInteger)
    state_at: Mapped[datetime | None] = mapped_column(TZ)
    queued_since: Mapped[datetime | None] = mapped_column(TZ)
    agent_id: Mapped[str | None] = mapped_column(String(64))
    agent_at: Mapped[datetime | None] = mapped_column(TZ)
    resolved_at: Mapped[datetime | None] = mapped_column(TZ)
    resolution: Mapped[str | None] = mapped_column(String(16))
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    handle_seconds: Mapped[float | None] = mapped_column(Float)
    first_assignment: Mapped[bool | None] = mapped_column()
    sensitive: Mapped[bool | None] = mapped_column()
    reason_code: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str | None] = mapped_column(String(32))
    """What the conclusive answer decided (authorised, denied, ...); None when unanswered."""
    business_seconds_to_resolve: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (
        Index("ix_interactions_received_at", "received_at"),
        Index("ix_interactions_resolved_at", "resolved_at"),
        Index("ix_interactions_party_ref_demand_type", "party_ref", "demand_type", "received_at"),
        Index("ix_interactions_state_queue", "state", "queue"),
        Index("ix_interactions_party_ref_received_at", "party_ref", "received_at"),
        Index("ix_interactions_party_ref_resolved_at", "party_ref", "resolved_at"),
    )


class Assignment(Base):
    """An offer of an interaction to an agent and, once accepted, the assignment it became."""

    __tablename__ = "assignments"

    assignment_id: Mapped[UUID] = mapped_column(primary_key=True)
    interaction_id: Mapped[UUID] = mapped_column()
    agent_id: Mapped[str | None] = mapped_column(String(64))
    queue: Mapped[str | None] = mapped_column(String(64))
    offered_at: Mapped[datetime | None] = mapped_column(TZ)
    declined_at: Mapped[datetime | None] = mapped_column(TZ)
    decline_reason: Mapped[str | None] = mapped_column(String(16))
    accepted_at: Mapped[datetime | None] = mapped_column(TZ)
    wait_seconds: Mapped[float | None] = mapped_column(Float)
    ended_at: Mapped[datetime | None] = mapped_column(TZ)

    __table_args__ = (
        Index("ix_assignments_accepted_at", "accepted_at"),
        Index("ix_assignments_interaction_id", "interaction_id"),
    )


class Clock(Base):
    """A deadline clock: its kind, its deadline in force and how it ended."""

    __tablename__ = "clocks"

    clock_id: Mapped[UUID] = mapped_column(primary_key=True)
    interaction_id: Mapped[UUID] = mapped_column()
    kind: Mapped[str] = mapped_column(String(16))
    clock_type: Mapped[str] = mapped_column(String(16))
    policy_id: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime | None] = mapped_column(TZ)
    due_at: Mapped[datetime] = mapped_column(TZ)
    due_at_as_of: Mapped[datetime] = mapped_column(TZ)
    paused: Mapped[bool | None] = mapped_column()
    paused_as_of: Mapped[datetime | None] = mapped_column(TZ)
    warned_at: Mapped[datetime | None] = mapped_column(TZ)
    outcome: Mapped[str | None] = mapped_column(String(16))
    closed_at: Mapped[datetime | None] = mapped_column(TZ)

    __table_args__ = (
        Index("ix_clocks_closed_at", "closed_at"),
        Index("ix_clocks_interaction_id", "interaction_id"),
        Index("ix_clocks_due_at", "due_at", postgresql_where="outcome IS NULL"),
    )


class Survey(Base):
    """A survey of a resolved interaction, from scheduling to its answer or expiry."""

    __tablename__ = "surveys"

    survey_id: Mapped[UUID] = mapped_column(primary_key=True)
    interaction_id: Mapped[UUID] = mapped_column()
    scheduled_at: Mapped[datetime | None] = mapped_column(TZ)
    skipped_at: Mapped[datetime | None] = mapped_column(TZ)
    skip_reason: Mapped[str | None] = mapped_column(String(32))
    dispatched_at: Mapped[datetime | None] = mapped_column(TZ)
    medium: Mapped[str | None] = mapped_column(String(16))
    failed_at: Mapped[datetime | None] = mapped_column(TZ)
    answered_at: Mapped[datetime | None] = mapped_column(TZ)
    nps: Mapped[int | None] = mapped_column(SmallInteger)
    category: Mapped[str | None] = mapped_column(String(16))
    csat: Mapped[int | None] = mapped_column(SmallInteger)
    may_contact: Mapped[bool | None] = mapped_column()
    themes: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    expired_at: Mapped[datetime | None] = mapped_column(TZ)

    __table_args__ = (
        Index("ix_surveys_answered_at", "answered_at"),
        Index("ix_surveys_dispatched_at", "dispatched_at"),
        Index("ix_surveys_interaction_id", "interaction_id"),
    )


class Followup(Base):
    """A follow-up a detractor's answer opened, and when it was closed."""

    __tablename__ = "followups"

    followup_id: Mapped[UUID] = mapped_column(primary_key=True)
    interaction_id: Mapped[UUID] = mapped_column()
    survey_id: Mapped[UUID] = mapped_column()
    followup_interaction_id: Mapped[UUID] = mapped_column()
    opened_at: Mapped[datetime | None] = mapped_column(TZ)
    reason_code: Mapped[str | None] = mapped_column(String(64))
    closed_at: Mapped[datetime | None] = mapped_column(TZ)
    close_reason_code: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_followups_opened_at", "opened_at"),
        Index("ix_followups_closed_at", "closed_at"),
        Index("ix_followups_interaction_id", "interaction_id"),
    )


class Agent(Base):
    """An agent's latest status."""

    __tablename__ = "agents"

    agent_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    status_at: Mapped[datetime] = mapped_column(TZ)
    skills: Mapped[list[str]] = mapped_column(ARRAY(Text))


class AgentStatusChange(Base):
    """Every status change of an agent, for the staffed time behind contacts per hour."""

    __tablename__ = "agent_status_changes"

    event_id: Mapped[UUID] = mapped_column(primary_key=True)
    agent_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[datetime] = mapped_column(TZ)

    __table_args__ = (Index("ix_agent_status_changes_agent_id", "agent_id", "occurred_at"),)


# KPI rollups (migration 0003). Each interaction's contributions to the KPIs, as the view
# kpi_contributions computes them from the tables above, are kept in kpi_facts and summed per
# local day into kpi_days and kpi_agent_days by the transaction that applies each event.


def _measures() -> list[Column[object]]:
    sums = {"handle_sum", "wait_sum"}
    return [
        Column(name, Numeric() if name in sums else BigInteger(), nullable=False)
        for name in MEASURES
    ]


def _dimensions() -> list[Column[object]]:
    return [Column(name, String(64)) for name in ("channel", "queue", "party_kind")]


KPI_SETTINGS = Table(
    "kpi_settings",
    Base.metadata,
    Column("id", SmallInteger, primary_key=True),
    Column("time_zone", Text, nullable=False),
    Column("answer_targets", JSONB, nullable=False),
    Column("resolve_within_seconds", Float, nullable=False),
    CheckConstraint("id = 1", name="single_row"),
)
"""What the rollups were counted with: what a day is, and the service level's targets."""

KPI_FACTS = Table(
    "kpi_facts",
    Base.metadata,
    Column("interaction_id", Uuid, nullable=False),
    Column("day", Date, nullable=False),
    *_dimensions(),
    Column("agent", String(64)),
    *_measures(),
    Index("ix_kpi_facts_interaction_id", "interaction_id"),
)
"""What each interaction is counted as in the rollups, per rollup key."""

KPI_DETAILS = Table(
    "kpi_details",
    Base.metadata,
    Column("interaction_id", Uuid, nullable=False),
    Column("day", Date),
    *_dimensions(),
    Column("agent", String(64)),
    Column("kind", Text, nullable=False),
    Column("theme", Text),
    Column("seconds", Float),
    Index("ix_kpi_details_interaction_id", "interaction_id"),
    Index("ix_kpi_details_kind_day", "kind", "day"),
)
"""What cannot be summed, row by row: each theme a detractor named ("theme"), and the seconds
each follow-up took to close ("followup_closed", for the median)."""

KPI_DAYS = Table(
    "kpi_days",
    Base.metadata,
    Column("day", Date, nullable=False),
    *_dimensions(),
    *_measures(),
    Index(
        "ix_kpi_days_key",
        "day",
        "channel",
        "queue",
        "party_kind",
        unique=True,
        postgresql_nulls_not_distinct=True,
    ),
)

KPI_AGENT_DAYS = Table(
    "kpi_agent_days",
    Base.metadata,
    Column("day", Date, nullable=False),
    Column("agent", String(64)),
    *_dimensions(),
    *_measures(),
    Index(
        "ix_kpi_agent_days_key",
        "day",
        "agent",
        "channel",
        "queue",
        "party_kind",
        unique=True,
        postgresql_nulls_not_distinct=True,
    ),
)


PARKED_EVENTS = Table(
    "parked_events",
    Base.metadata,
    Column("event_id", Uuid, primary_key=True),
    Column("interaction_id", Uuid, nullable=False, index=True),
    Column("topic", Text, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("parked_at", TZ, nullable=False, server_default=func.now(), index=True),
)
"""Events about an interaction whose receipt has not come yet; see analytics.parking."""
