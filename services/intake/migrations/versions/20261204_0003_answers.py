"""Answers given to the person: outcome, denial grounds and the written answer.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "answers",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("interaction_id", sa.Uuid(), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("denial_reason", sa.String(64), nullable=True),
        sa.Column("legal_basis", sa.String(200), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="pk_answers"),
        sa.ForeignKeyConstraint(
            ["interaction_id"], ["interactions.id"], name="fk_answers_interaction_id_interactions"
        ),
    )
    op.create_index(
        "ix_answers_interaction_id_answered_at", "answers", ["interaction_id", "answered_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_answers_interaction_id_answered_at", table_name="answers")
    op.drop_table("answers")
