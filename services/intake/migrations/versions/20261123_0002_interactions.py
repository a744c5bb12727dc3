"""Interactions, their history and deadlines, parties, protocol numbers and idempotent requests.

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

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.execute(sa.schema.CreateSequence(sa.Sequence("protocol_numbers")))
    op.create_table(
        "protocol_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("base", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", name="pk_protocol_days"),
    )
    op.create_table(
        "parties",
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("party_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("phone", sa.String(32), nullable=True),
        sa.Column("updated_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("kind", "party_id", name="pk_parties"),
    )
    op.create_table(
        "interactions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("protocol", sa.String(20), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("party_kind", sa.String(16), nullable=False),
        sa.Column("party_id", sa.String(64), nullable=False),
        sa.Column("demand_type", sa.String(64), nullable=True),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(200), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("locale", sa.String(35), nullable=True),
        sa.Column("related_interaction_id", sa.Uuid(), nullable=True),
        sa.Column("occurred_at", TZ, nullable=False),
        sa.Column("received_at", TZ, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_at", TZ, nullable=False),
        sa.Column("queue", sa.String(64), nullable=True),
        sa.Column("completed_at", TZ, nullable=True),
        sa.Column("sla_breached", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_interactions"),
        sa.UniqueConstraint("protocol", name="uq_interactions_protocol"),
        sa.ForeignKeyConstraint(
            ["related_interaction_id"],
            ["interactions.id"],
            name="fk_interactions_related_interaction_id_interactions",
        ),
    )
    op.create_index(
        "ix_interactions_party_kind_party_id_received_at_id",
        "interactions",
        ["party_kind", "party_id", "received_at", "id"],
    )
    op.create_index(
        "ix_interactions_related_interaction_id", "interactions", ["related_interaction_id"]
    )
    op.create_table(
        "interaction_history",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("interaction_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=True),
        sa.Column("event_type", sa.String(80), nullable=False),
        sa.Column("occurred_at", TZ, nullable=False),
        sa.Column("status", sa.String(16), nullable=True),
        sa.Column("queue", sa.String(64), nullable=True),
        sa.Column("applied", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_interaction_history"),
        sa.ForeignKeyConstraint(
            ["interaction_id"],
            ["interactions.id"],
            name="fk_interaction_history_interaction_id_interactions",
        ),
    )
    op.create_index(
        "ix_interaction_history_interaction_id_occurred_at",
        "interaction_history",
        ["interaction_id", "occurred_at"],
    )
    op.create_table(
        "deadlines",
        sa.Column("clock_id", sa.Uuid(), nullable=False),
        sa.Column("interaction_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("clock_type", sa.String(16), nullable=False),
        sa.Column("due_at", TZ, nullable=False),
        sa.Column("due_at_as_of", TZ, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("clock_id", name="pk_deadlines"),
        sa.ForeignKeyConstraint(
            ["interaction_id"], ["interactions.id"], name="fk_deadlines_interaction_id_interactions"
        ),
    )
    op.create_index("ix_deadlines_interaction_id", "deadlines", ["interaction_id"])
    op.create_table(
        "idempotent_requests",
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("answer", postgresql.JSONB(), nullable=True),
        sa.Column("created_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("client", "key", name="pk_idempotent_requests"),
    )
    op.create_index("ix_idempotent_requests_created_at", "idempotent_requests", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotent_requests_created_at", table_name="idempotent_requests")
    op.drop_table("idempotent_requests")
    op.drop_index("ix_deadlines_interaction_id", table_name="deadlines")
    op.drop_table("deadlines")
    op.drop_index(
        "ix_interaction_history_interaction_id_occurred_at", table_name="interaction_history"
    )
    op.drop_table("interaction_history")
    op.drop_index("ix_interactions_related_interaction_id", table_name="interactions")
    op.drop_index("ix_interactions_party_kind_party_id_received_at_id", table_name="interactions")
    op.drop_table("interactions")
    op.drop_table("parties")
    op.drop_table("protocol_days")
    op.execute(sa.schema.DropSequence(sa.Sequence("protocol_numbers")))
