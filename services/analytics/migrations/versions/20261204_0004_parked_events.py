"""Events about interactions analytics has not seen received yet, parked until it comes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "parked_events",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("interaction_id", sa.Uuid(), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column(
            "parked_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("event_id", name="pk_parked_events"),
    )
    op.create_index("ix_parked_events_interaction_id", "parked_events", ["interaction_id"])
    op.create_index("ix_parked_events_parked_at", "parked_events", ["parked_at"])


def downgrade() -> None:
    op.drop_index("ix_parked_events_parked_at", table_name="parked_events")
    op.drop_index("ix_parked_events_interaction_id", table_name="parked_events")
    op.drop_table("parked_events")
