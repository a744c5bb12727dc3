"""A partial index of the clocks still to be warned, for the due-timer.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_sla_clocks_to_warn",
        "sla_clocks",
        ["warn_at"],
        postgresql_where=sa.text(
            "state = 'running' AND warned_at IS NULL AND quarantined_at IS NULL"
        ),
    )


def downgrade() -> None:
    op.drop_index("ix_sla_clocks_to_warn", table_name="sla_clocks")
