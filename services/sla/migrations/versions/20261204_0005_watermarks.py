"""The producers' low watermarks, per topic partition, that a breach waits for.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sla_watermarks",
        sa.Column("producer", sa.String(64), nullable=False),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("partitions", sa.Integer(), nullable=False),
        sa.Column("low_watermark", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("producer", "topic", "partition", name="pk_sla_watermarks"),
    )


def downgrade() -> None:
    op.drop_table("sla_watermarks")
