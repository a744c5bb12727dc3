"""Agents, interactions, assignments, notes and the SLA deadlines routing orders work by.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_ASSIGNMENT = "status IN ('offered', 'accepted', 'waiting')"


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("skills", postgresql.JSONB(), nullable=False),
        sa.Column("capacity", postgresql.JSONB(), nullable=False),
        sa.Column("idle_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('available', 'away', 'offline')", name="ck_agents_status"),
        sa.PrimaryKeyConstraint("id", name="pk_agents"),
    )
    op.create_table(
        "interactions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("protocol", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("party_kind", sa.Text(), nullable=False),
        sa.Column("party_ref", sa.Text(), nullable=False),
        sa.Column("priority", sa.Text(), nullable=False),
        sa.Column("demand_type", sa.Text(), nullable=False),
        sa.Column("demand_type_inferred", sa.Boolean(), nullable=False),
        sa.Column("related_interaction_id", sa.Uuid(), nullable=True),
        sa.Column("queue", sa.Text(), nullable=False),
        sa.Column("matched_rule", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("rank", sa.SmallInteger(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("breached", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("escalate_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("escalated", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("correlation_id", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'offered', 'assigned', 'resolved')",
            name="ck_interactions_status",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_interactions"),
    )
    op.create_index(
        "ix_interactions_waiting",
        "interactions",
        ["rank", "due_at", "received_at"],
        postgresql_where=sa.text("status = 'queued'"),
    )
    op.create_index(
        "ix_interactions_escalate_at",
        "interactions",
        ["escalate_at"],
        postgresql_where=sa.text("status = 'queued' AND NOT escalated"),
    )
    op.create_table(
        "assignments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("interaction_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Text(), nullable=False),
        sa.Column("queue", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("sensitive", sa.Boolean(), nullable=True),
        sa.Column("reason_code", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('offered', 'accepted', 'waiting', 'rejected', 'timed_out', "
            "'transferred', 'completed')",
            name="ck_assignments_status",
        ),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], name="fk_assignments_agent_id_agents"),
        sa.ForeignKeyConstraint(
            ["interaction_id"],
            ["interactions.id"],
            name="fk_assignments_interaction_id_interactions",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_assignments"),
    )
    op.create_index("ix_assignments_interaction_id", "assignments", ["interaction_id"])
    op.create_index(
        "uq_assignments_open_interaction",
        "assignments",
        ["interaction_id"],
        unique=True,
        postgresql_where=sa.text(OPEN_ASSIGNMENT),
    )
    op.create_index(
        "ix_assignments_agent_open",
        "assignments",
        ["agent_id"],
        postgresql_where=sa.text(OPEN_ASSIGNMENT),
    )
    op.create_index(
        "ix_assignments_offer_expiry",
        "assignments",
        ["expires_at"],
        postgresql_where=sa.text("status = 'offered'"),
    )
    op.create_table(
        "notes",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("interaction_id", sa.Uuid(), nullable=False),
        sa.Column("assignment_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["assignment_id"], ["assignments.id"], name="fk_notes_assignment_id_assignments"
        ),
        sa.ForeignKeyConstraint(
            ["interaction_id"], ["interactions.id"], name="fk_notes_interaction_id_interactions"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_notes"),
    )
    op.create_index("ix_notes_interaction_id", "notes", ["interaction_id"])
    op.create_table(
        "sla_clocks",
        sa.Column("clock_id", sa.Uuid(), nullable=False),
        sa.Column("interaction_id", sa.Uuid(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("breached", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("stopped", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.PrimaryKeyConstraint("clock_id", name="pk_sla_clocks"),
    )
    op.create_index("ix_sla_clocks_interaction_id", "sla_clocks", ["interaction_id"])


def downgrade() -> None:
    op.drop_table("sla_clocks")
    op.drop_table("notes")
    op.drop_table("assignments")
    op.drop_table("interactions")
    op.drop_table("agents")
