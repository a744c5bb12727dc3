"""Receptions, surveys, responses, opt-outs and follow-ups.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "receptions",
        sa.Column("interaction_id", sa.Uuid(), nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("received_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("interaction_id", name="pk_receptions"),
    )
    op.create_table(
        "surveys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("interaction_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("party_kind", sa.String(16), nullable=False),
        sa.Column("party_ref", sa.String(44), nullable=False),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("skip_reason", sa.String(32), nullable=True),
        sa.Column("resolved_at", TZ, nullable=False),
        sa.Column("due_at", TZ, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(200), nullable=True),
        sa.Column("medium", sa.String(16), nullable=True),
        sa.Column("locale", sa.String(35), nullable=True),
        sa.Column("token_hash", sa.String(64), nullable=True),
        sa.Column("dispatched_at", TZ, nullable=True),
        sa.Column("expires_at", TZ, nullable=True),
        sa.Column("correlation_id", sa.String(256), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_surveys"),
        sa.UniqueConstraint("interaction_id", name="uq_surveys_interaction_id"),
        sa.UniqueConstraint("token_hash", name="uq_surveys_token_hash"),
    )
    op.create_index("ix_surveys_status_due_at", "surveys", ["status", "due_at"])
    op.create_index("ix_surveys_party_ref_resolved_at", "surveys", ["party_ref", "resolved_at"])
    op.create_table(
        "responses",
        sa.Column("survey_id", sa.Uuid(), nullable=False),
        sa.Column("nps", sa.SmallInteger(), nullable=False),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("csat", sa.SmallInteger(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("may_contact", sa.Boolean(), nullable=False),
        sa.Column("themes", postgresql.ARRAY(sa.String(64)), nullable=False),
        sa.Column("answered_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ["survey_id"], ["surveys.id"], name="fk_responses_survey_id_surveys"
        ),
        sa.PrimaryKeyConstraint("survey_id", name="pk_responses"),
    )
    op.create_table(
        "opt_outs",
        sa.Column("party_ref", sa.String(44), nullable=False),
        sa.Column("survey_id", sa.Uuid(), nullable=False),
        sa.Column("opted_out_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("party_ref", name="pk_opt_outs"),
    )
    op.create_table(
        "followups",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("survey_id", sa.Uuid(), nullable=False),
        sa.Column("interaction_id", sa.Uuid(), nullable=False),
        sa.Column("followup_interaction_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("due_at", TZ, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(200), nullable=True),
        sa.Column("reason_code", sa.String(64), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("opened_at", TZ, nullable=True),
        sa.Column("closed_at", TZ, nullable=True),
        sa.ForeignKeyConstraint(
            ["survey_id"], ["surveys.id"], name="fk_followups_survey_id_surveys"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_followups"),
        sa.UniqueConstraint("survey_id", name="uq_followups_survey_id"),
        sa.UniqueConstraint("followup_interaction_id", name="uq_followups_followup_interaction_id"),
    )
    op.create_index("ix_followups_status_due_at", "followups", ["status", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_followups_status_due_at", table_name="followups")
    op.drop_table("followups")
    op.drop_table("opt_outs")
    op.drop_table("responses")
    op.drop_index("ix_surveys_party_ref_resolved_at", table_name="surveys")
    op.drop_index("ix_surveys_status_due_at", table_name="surveys")
    op.drop_table("surveys")
    op.drop_table("receptions")
