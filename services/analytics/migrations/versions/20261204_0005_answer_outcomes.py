"""What each interaction's conclusive answer decided, for the answer outcomes per month.

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
    op.add_column("interactions", sa.Column("outcome", sa.String(32), nullable=True))


def downgrade() -> None:
    op.drop_column("interactions", "outcome")
