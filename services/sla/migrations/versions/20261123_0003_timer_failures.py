"""The due-timer's failures per clock, and the quarantine of a clock it gave up on.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "sla_clocks",
        sa.Column("timer_failures", sa.Integer(), server_default="0", nullable=False),
    )
    op.add_column("sla_clocks", sa.Column("timer_error", sa.String(500), nullable=True))
    op.add_column(
        "sla_clocks", sa.Column("quarantined_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("sla_clocks", "quarantined_at")
    op.drop_column("sla_clocks", "timer_error")
    op.drop_column("sla_clocks", "timer_failures")
