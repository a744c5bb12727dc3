"""Another body's number for a demand: the ANS demand number of a NIP.

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
    op.add_column("interactions", sa.Column("external_reference", sa.String(40), nullable=True))


def downgrade() -> None:
    op.drop_column("interactions", "external_reference")
