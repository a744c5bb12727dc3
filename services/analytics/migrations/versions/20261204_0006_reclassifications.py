"""The demand type before an agent corrected it, so both the original and the corrected count.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("interactions", sa.Column("original_demand_type", sa.String(64), nullable=True))


def downgrade() -> None:
    op.drop_column("interactions", "original_demand_type")
