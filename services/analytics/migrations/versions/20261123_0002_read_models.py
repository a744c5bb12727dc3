"""Read models: interactions, assignments, clocks, surveys, follow-ups and agents.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agent_status_changes",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_agent_status_changes")),
    )
    op.create_index(
        "ix_agent_status_changes_agent_id",
        "agent_status_changes",
        ["agent_id", "occurred_at"],
        unique=False,
    )
    op.create_table(
        "agents",
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("skills", sa.ARRAY(sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("agent_id", name=op.f("pk_agents")),
    )
    op.create_table(
        "assignments",
        sa.Column("assignment_id", sa.Uuid(), nullable=False),
        sa.Column("interaction_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=True),
        sa.Column("queue", sa.String(length=64), nullable=True),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("declined_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decline_reason", sa.String(length=16), nullable=True),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("wait_seconds", sa.Float(), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("assignment_id", name=op.f("pk_assignments")),
    )
    op.create_index("ix_assignments_accepted_at", "assignments", ["accepted_at"], unique=False)
    op.create_table(
        "clocks",
        sa.Column("clock_id", sa.Uuid(), nullable=False),
        sa.Column("interaction_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("clock_type", sa.String(length=16), nullable=False),
        sa.Column("policy_id", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at_as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=True),
        sa.Column("paused_as_of", sa.DateTime(timezone=True), nullable=True),
        sa.Column("warned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("clock_id", name=op.f("pk_clocks")),
    )
    op.create_index("ix_clocks_closed_at", "clocks", ["closed_at"], unique=False)
    op.create_index(
        "ix_clocks_due_at", "clocks", ["due_at"], unique=False, postgresql_where="outcome IS NULL"
    )
    op.create_table(
        "followups",
        sa.Column("followup_id", sa.Uuid(), nullable=False),
        sa.Column("interaction_id", sa.Uuid(), nullable=False),
        sa.Column("survey_id", sa.Uuid(), nullable=False),
        sa.Column("followup_interaction_id", sa.Uuid(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason_code", sa.String(length=64), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("close_reason_code", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("followup_id", name=op.f("pk_followups")),
    )
    op.create_index("ix_followups_closed_at", "followups", ["closed_at"], unique=False)
    op.create_index("ix_followups_opened_at", "followups", ["opened_at"], unique=False)
    op.create_table(
        "interactions",
        sa.Column("interaction_id", sa.Uuid(), nullable=False),
        sa.Column("protocol", sa.String(length=32), nullable=True),
        sa.Column("channel", sa.String(length=32), nullable=True),
        sa.Column("party_kind", sa.String(length=32), nullable=True),
        sa.Column("party_ref", sa.String(length=64), nullable=True),
        sa.Column("given_demand_type", sa.String(length=64), nullable=True),
        sa.Column("routed_demand_type", sa.String(length=64), nullable=True),
        sa.Column("routed_demand_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "demand_type",
            sa.String(length=64),
            sa.Computed("coalesce(routed_demand_type, given_demand_type)", persisted=True),
            nullable=True,
        ),
        sa.Column("priority", sa.String(length=16), nullable=True),
        sa.Column("related_interaction_id", sa.Uuid(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("queue", sa.String(length=64), nullable=True),
        sa.Column("queue_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=True),
        sa.Column("state_rank", sa.SmallInteger(), nullable=True),
        sa.Column("state_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("queued_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("agent_id", sa.String(length=64), nullable=True),
        sa.Column("agent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution", sa.String(length=16), nullable=True),
        sa.Column("resolved_by", sa.String(length=64), nullable=True),
        sa.Column("handle_seconds", sa.Float(), nullable=True),
        sa.Column("first_assignment", sa.Boolean(), nullable=True),
        sa.Column("sensitive", sa.Boolean(), nullable=True),
        sa.Column("reason_code", sa.String(length=64), nullable=True),
        sa.Column("business_seconds_to_resolve", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("interaction_id", name=op.f("pk_interactions")),
    )
    op.create_index(
        "ix_interactions_party_ref_demand_type",
        "interactions",
        ["party_ref", "demand_type", "received_at"],
        unique=False,
    )
    op.create_index("ix_interactions_received_at", "interactions", ["received_at"], unique=False)
    op.create_index("ix_interactions_resolved_at", "interactions", ["resolved_at"], unique=False)
    op.create_index("ix_interactions_state_queue", "interactions", ["state", "queue"], unique=False)
    op.create_table(
        "surveys",
        sa.Column("survey_id", sa.Uuid(), nullable=False),
        sa.Column("interaction_id", sa.Uuid(), nullable=False),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("skipped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("skip_reason", sa.String(length=32), nullable=True),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("medium", sa.String(length=16), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("nps", sa.SmallInteger(), nullable=True),
        sa.Column("category", sa.String(length=16), nullable=True),
        sa.Column("csat", sa.SmallInteger(), nullable=True),
        sa.Column("may_contact", sa.Boolean(), nullable=True),
        sa.Column("themes", sa.ARRAY(sa.Text()), nullable=True),
        sa.Column("expired_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("survey_id", name=op.f("pk_surveys")),
    )
    op.create_index("ix_surveys_answered_at", "surveys", ["answered_at"], unique=False)
    op.create_index("ix_surveys_dispatched_at", "surveys", ["dispatched_at"], unique=False)


def downgrade() -> None:
    for table in (
        "surveys",
        "interactions",
        "followups",
        "clocks",
        "assignments",
        "agents",
        "agent_status_changes",
    ):
        op.drop_table(table)
