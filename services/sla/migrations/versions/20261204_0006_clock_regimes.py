"""One clock per regime: an interaction carries every regulatory clock that applies.

A clock is now one regime's (rn623, rn323, rn566, nip, operational) clock of a kind and type.
Existing clocks take the regime of the policy they follow.

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

_BY_POLICY = (
    "CASE"
    " WHEN policy_id LIKE 'ans-rn623-%' THEN 'rn623'"
    " WHEN policy_id LIKE 'ans-rn323-%' THEN 'rn323'"
    " WHEN policy_id LIKE 'ans-rn566-%' THEN 'rn566'"
    " WHEN policy_id LIKE 'ans-rn483-%' THEN 'nip'"
    " WHEN kind = 'operational' THEN 'operational'"
    " ELSE kind END"
)


def upgrade() -> None:
    op.add_column("sla_clocks", sa.Column("regime", sa.String(64), nullable=True))
    op.execute(f"UPDATE sla_clocks SET regime = {_BY_POLICY}")
    op.alter_column("sla_clocks", "regime", nullable=False)
    op.drop_constraint("uq_sla_clocks_interaction_id_kind_clock_type", "sla_clocks", "unique")
    op.create_unique_constraint(
        "uq_sla_clocks_interaction_id_regime_kind_clock_type",
        "sla_clocks",
        ["interaction_id", "regime", "kind", "clock_type"],
    )


def downgrade() -> None:
    # One clock per kind and type again: the earliest started of each is kept.
    op.execute(
        "DELETE FROM sla_clocks AS c USING sla_clocks AS k"
        " WHERE c.interaction_id = k.interaction_id AND c.kind = k.kind"
        " AND c.clock_type = k.clock_type"
        " AND (k.created_at, k.clock_id) < (c.created_at, c.clock_id)"
    )
    op.drop_constraint(
        "uq_sla_clocks_interaction_id_regime_kind_clock_type", "sla_clocks", "unique"
    )
    op.create_unique_constraint(
        "uq_sla_clocks_interaction_id_kind_clock_type",
        "sla_clocks",
        ["interaction_id", "kind", "clock_type"],
    )
    op.drop_column("sla_clocks", "regime")
