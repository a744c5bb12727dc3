"""The outbox and inbox tables of the shared messaging plumbing.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from atende_events.migrations import downgrade_messaging_0001, upgrade_messaging_0001

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    upgrade_messaging_0001()


def downgrade() -> None:
    downgrade_messaging_0001()
