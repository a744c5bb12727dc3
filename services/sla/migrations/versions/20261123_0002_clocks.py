"""Tracked interactions, their pauses and their deadline clocks.

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

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sla_interactions",
        sa.Column("interaction_id", sa.Uuid(), nullable=False),
        sa.Column("received_at", TZ, nullable=True),
        sa.Column("channel", sa.String(32), nullable=True),
        sa.Column("party_kind", sa.String(32), nullable=True),
        sa.Column("priority", sa.String(32), nullable=True),
        sa.Column("demand_type", sa.String(64), nullable=True),
        sa.Column("queue", sa.String(64), nullable=True),
        sa.Column("first_accepted_at", TZ, nullable=True),
        sa.Column("completed_at", TZ, nullable=True),
        sa.Column("answered_at", TZ, nullable=True),
        sa.Column("correlation_id", sa.String(256), nullable=True),
        sa.Column("updated_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("interaction_id", name="pk_sla_interactions"),
    )
    op.create_table(
        "sla_pauses",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("interaction_id", sa.Uuid(), nullable=False),
        sa.Column("waiting_at", TZ, nullable=False),
        sa.Column("resumed_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_sla_pauses"),
    )
    op.create_index(
        "ix_sla_pauses_interaction_id_waiting_at", "sla_pauses", ["interaction_id", "waiting_at"]
    )
    op.create_table(
        "sla_clocks",
        sa.Column("clock_id", sa.Uuid(), nullable=False),
        sa.Column("interaction_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("clock_type", sa.String(32), nullable=False),
        sa.Column("policy_id", sa.String(64), nullable=False),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("budget_seconds", sa.Float(), nullable=False),
        sa.Column("warn_at", TZ, nullable=False),
        sa.Column("due_at", TZ, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("warned_at", TZ, nullable=True),
        sa.Column("closed_at", TZ, nullable=True),
        sa.Column("business_seconds_elapsed", sa.Float(), nullable=True),
        sa.Column("extended_at", TZ, nullable=True),
        sa.Column("created_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("clock_id", name="pk_sla_clocks"),
        sa.UniqueConstraint(
            "interaction_id",
            "kind",
            "clock_type",
            name="uq_sla_clocks_interaction_id_kind_clock_type",
        ),
        sa.CheckConstraint(
            "state IN ('running', 'paused', 'met', 'breached')", name="ck_sla_clocks_state"
        ),
    )
    op.create_index("ix_sla_clocks_state_due_at", "sla_clocks", ["state", "due_at"])
    op.create_index("ix_sla_clocks_state_warn_at", "sla_clocks", ["state", "warn_at"])


def downgrade() -> None:
    op.drop_index("ix_sla_clocks_state_warn_at", table_name="sla_clocks")
    op.drop_index("ix_sla_clocks_state_due_at", table_name="sla_clocks")
    op.drop_table("sla_clocks")
    op.drop_index("ix_sla_pauses_interaction_id_waiting_at", table_name="sla_pauses")
    op.drop_table("sla_pauses")
    op.drop_table("sla_interactions")
