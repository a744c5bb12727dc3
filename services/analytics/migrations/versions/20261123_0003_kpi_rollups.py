"""KPI rollups: each interaction's contributions, kept at write time, summed per local day.

`kpi_contributions` (a view) says what each interaction adds to the KPIs of DESIGN.md section 6:
one row per KPI family (arrival, completion, acceptance, closed clock, answer, dispatch, follow-up
opened or closed) with its local day, its group dimensions and its counts and sums (the FCR and
repeat-contact flags, resolved within 2 business days, handle and wait sums, the NPS category).
The consumer stores what it counted per interaction in `kpi_facts` and adds the differences to
`kpi_days` (day x channel x queue x party kind) and `kpi_agent_days` (the same by agent) in the
transaction that applies the event. What cannot be summed (the themes detractors named, the time
each follow-up took to close, for a median) is kept row by row in `kpi_details`, from the view
`kpi_detail_contributions`, with the same day and dimensions. `kpi_settings` holds the time zone
(what a day is) and the answer targets (the service level) the rollups were counted with.

The upgrade backfills the three tables from the read models already there.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from analytics.config import Settings

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DIMENSIONS = ("channel", "queue", "party_kind")
SUMS = ("handle_sum", "wait_sum")
COUNTS = (
    "volume inbound repeat_contacts escalations completed resolved fcr_count handle_n "
    "resolved_timed within_2bd first_instance_resolved accepted wait_n sl_eligible sl_met "
    "clocks_closed regulatory_closed regulatory_met operational_closed operational_met answers "
    "promoters passives detractors csat_answers csat_sum csat_satisfied dispatched "
    "followups_opened followups_closed"
).split()
MEASURES = (*COUNTS[:7], "handle_sum", *COUNTS[7:12], "wait_sum", *COUNTS[12:])

REPEAT_WINDOW = "interval '7 days'"
NOT_CONTACT = "o.channel NOT IN ('outbound')"
SAME_DEMAND = (
    "o.party_ref = i.party_ref AND o.demand_type = i.demand_type "
    "AND o.interaction_id <> i.interaction_id AND " + NOT_CONTACT
)
EARLIER_CONTACT = (
    f"EXISTS (SELECT 1 FROM interactions o WHERE {SAME_DEMAND} "
    f"AND o.received_at > i.received_at - {REPEAT_WINDOW} AND o.received_at <= i.received_at "
    "AND o.received_at < i.received_at)"
)
CAME_BACK = (
    f"EXISTS (SELECT 1 FROM interactions o WHERE {SAME_DEMAND} "
    f"AND o.received_at > i.received_at AND o.received_at <= i.resolved_at + {REPEAT_WINDOW})"
)
OK = "i.resolution = 'resolved'"
INTERACTION_DIMS = "i.channel, i.queue, i.party_kind"

# Each family: (source, interaction id, moment, dimensions, agent, {measure: SQL}); a condition
# counts 1 where it is true (never where it is NULL, as count(*) FILTER (WHERE ...) does).
FAMILIES: list[tuple[str, str, str, str, str, dict[str, str]]] = [
    (
        "interactions i WHERE i.received_at IS NOT NULL",
        "i.interaction_id",
        "i.received_at",
        INTERACTION_DIMS,
        "i.agent_id",
        {
            "volume": "true",
            "inbound": "i.channel NOT IN ('outbound')",
            "repeat_contacts": f"i.channel NOT IN ('outbound') AND {EARLIER_CONTACT}",
            "escalations": "i.channel = 'ombudsman' AND i.related_interaction_id IS NOT NULL",
        },
    ),
    (
        "interactions i WHERE i.resolved_at IS NOT NULL",
        "i.interaction_id",
        "i.resolved_at",
        INTERACTION_DIMS,
        "i.resolved_by",
        {
            "completed": "true",
            "resolved": OK,
            "fcr_count": f"{OK} AND i.first_assignment IS TRUE AND NOT {CAME_BACK}",
            "handle_sum": "=coalesce(i.handle_seconds::numeric, 0)",
            "handle_n": "i.handle_seconds IS NOT NULL",
            "resolved_timed": f"{OK} AND i.business_seconds_to_resolve IS NOT NULL",
            "within_2bd": f"{OK} AND i.business_seconds_to_resolve <= s.resolve_within_seconds",
            "first_instance_resolved": f"{OK} AND i.channel NOT IN ('ombudsman', 'regulator')",
        },
    ),
    (
        "assignments a LEFT JOIN interactions i ON i.interaction_id = a.interaction_id "
        "WHERE a.accepted_at IS NOT NULL",
        "a.interaction_id",
        "a.accepted_at",
        "i.channel, a.queue, i.party_kind",
        "a.agent_id",
        {
            "accepted": "true",
            "wait_sum": "=coalesce(a.wait_seconds::numeric, 0)",
            "wait_n": "a.wait_seconds IS NOT NULL",
            "sl_eligible": "(s.answer_targets ->> i.channel) IS NOT NULL",
            "sl_met": "a.wait_seconds <= (s.answer_targets ->> i.channel)::float8",
        },
    ),
    (
        "clocks k LEFT JOIN interactions i ON i.interaction_id = k.interaction_id "
        "WHERE k.outcome IS NOT NULL",
        "k.interaction_id",
        "k.closed_at",
        INTERACTION_DIMS,
        "i.agent_id",
        {
            "clocks_closed": "true",
            "regulatory_closed": "k.kind = 'regulatory'",
            "regulatory_met": "k.kind = 'regulatory' AND k.outcome = 'met'",
            "operational_closed": "k.kind = 'operational'",
            "operational_met": "k.kind = 'operational' AND k.outcome = 'met'",
        },
    ),
    (
        "surveys v LEFT JOIN interactions i ON i.interaction_id = v.interaction_id "
        "WHERE v.answered_at IS NOT NULL",
        "v.interaction_id",
        "v.answered_at",
        INTERACTION_DIMS,
        "i.agent_id",
        {
            "answers": "true",
            "promoters": "v.category = 'promoter'",
            "passives": "v.category = 'passive'",
            "detractors": "v.category = 'detractor'",
            "csat_answers": "v.csat IS NOT NULL",
            "csat_sum": "=coalesce(v.csat, 0)",
            "csat_satisfied": "v.csat >= 4",
        },
    ),
    (
        "surveys v LEFT JOIN interactions i ON i.interaction_id = v.interaction_id "
        "WHERE v.dispatched_at IS NOT NULL",
        "v.interaction_id",
        "v.dispatched_at",
        INTERACTION_DIMS,
        "i.agent_id",
        {"dispatched": "true"},
    ),
    (
        "followups f LEFT JOIN interactions i ON i.interaction_id = f.interaction_id "
        "WHERE f.opened_at IS NOT NULL",
        "f.interaction_id",
        "f.opened_at",
        INTERACTION_DIMS,
        "i.agent_id",
        {"followups_opened": "true"},
    ),
    (
        "followups f LEFT JOIN interactions i ON i.interaction_id = f.interaction_id "
        "WHERE f.closed_at IS NOT NULL",
        "f.interaction_id",
        "f.closed_at",
        INTERACTION_DIMS,
        "i.agent_id",
        {"followups_closed": "true"},
    ),
]


def _measure(expression: str | None) -> str:
    if expression is None:
        return "0"
    if expression.startswith("="):
        return expression[1:]
    return f"CASE WHEN {expression} THEN 1 ELSE 0 END"


def _view() -> str:
    branches = []
    for source, interaction_id, at, dims, agent, measures in FAMILIES:
        # The source's own WHERE is joined with the settings by a cross join placed before it.
        from_clause, _, where = source.rpartition(" WHERE ")
        columns = ", ".join(f"{_measure(measures.get(name))} AS {name}" for name in MEASURES)
        branches.append(
            f"SELECT {interaction_id} AS interaction_id, "
            f"date(timezone(s.time_zone, {at})) AS day, {dims}, {agent} AS agent, {columns} "
            f"FROM kpi_settings s CROSS JOIN {from_clause} WHERE s.id = 1 AND {where}"
        )
    return "CREATE VIEW kpi_contributions AS\n" + "\nUNION ALL\n".join(branches)


DETAILS_VIEW = """
CREATE VIEW kpi_detail_contributions AS
SELECT v.interaction_id, date(timezone(s.time_zone, v.answered_at)) AS day, i.channel, i.queue,
       i.party_kind, i.agent_id AS agent, 'theme'::text AS kind, t.theme::text AS theme,
       NULL::float8 AS seconds
FROM kpi_settings s
CROSS JOIN surveys v
LEFT JOIN interactions i ON i.interaction_id = v.interaction_id
CROSS JOIN LATERAL unnest(v.themes) AS t(theme)
WHERE s.id = 1 AND v.category = 'detractor'
UNION ALL
SELECT f.interaction_id, date(timezone(s.time_zone, f.closed_at)), i.channel, i.queue,
       i.party_kind, i.agent_id, 'followup_closed'::text, NULL::text,
       extract(epoch FROM f.closed_at - f.opened_at)::float8
FROM kpi_settings s
CROSS JOIN followups f
LEFT JOIN interactions i ON i.interaction_id = f.interaction_id
WHERE s.id = 1 AND f.closed_at IS NOT NULL
"""


def _measure_columns() -> list[sa.Column[object]]:
    return [
        sa.Column(name, sa.Numeric() if name in SUMS else sa.BigInteger(), nullable=False)
        for name in MEASURES
    ]


def _sums() -> str:
    return ", ".join(f"sum({name})" for name in MEASURES)


def upgrade() -> None:
    # Only the time zone and the answer targets are read here. The migration Job holds no API
    # keys, and the production checks of secrets are the running service's business.
    settings = Settings(environment="development")
    op.create_table(
        "kpi_settings",
        sa.Column("id", sa.SmallInteger(), nullable=False),
        sa.Column("time_zone", sa.Text(), nullable=False),
        sa.Column("answer_targets", postgresql.JSONB(), nullable=False),
        sa.Column("resolve_within_seconds", sa.Float(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_kpi_settings_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kpi_settings")),
    )
    op.bulk_insert(
        sa.table(
            "kpi_settings",
            sa.column("id", sa.SmallInteger()),
            sa.column("time_zone", sa.Text()),
            sa.column("answer_targets", postgresql.JSONB()),
            sa.column("resolve_within_seconds", sa.Float()),
        ),
        [
            {
                "id": 1,
                "time_zone": settings.time_zone,
                "answer_targets": dict(settings.answer_targets),
                # Two business days of Mon-Fri 08:00-18:00 (analytics.domain.brazil_calendar).
                "resolve_within_seconds": 2 * 10 * 3600.0,
            }
        ],
    )
    op.create_table(
        "kpi_facts",
        sa.Column("interaction_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        *[sa.Column(name, sa.String(length=64), nullable=True) for name in DIMENSIONS],
        sa.Column("agent", sa.String(length=64), nullable=True),
        *_measure_columns(),
    )
    op.create_index("ix_kpi_facts_interaction_id", "kpi_facts", ["interaction_id"])
    op.create_table(
        "kpi_details",
        sa.Column("interaction_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=True),
        *[sa.Column(name, sa.String(length=64), nullable=True) for name in DIMENSIONS],
        sa.Column("agent", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("theme", sa.Text(), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=True),
    )
    op.create_index("ix_kpi_details_interaction_id", "kpi_details", ["interaction_id"])
    op.create_index("ix_kpi_details_kind_day", "kpi_details", ["kind", "day"])
    op.create_table(
        "kpi_days",
        sa.Column("day", sa.Date(), nullable=False),
        *[sa.Column(name, sa.String(length=64), nullable=True) for name in DIMENSIONS],
        *_measure_columns(),
    )
    op.create_index(
        "ix_kpi_days_key",
        "kpi_days",
        ["day", *DIMENSIONS],
        unique=True,
        postgresql_nulls_not_distinct=True,
    )
    op.create_table(
        "kpi_agent_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("agent", sa.String(length=64), nullable=True),
        *[sa.Column(name, sa.String(length=64), nullable=True) for name in DIMENSIONS],
        *_measure_columns(),
    )
    op.create_index(
        "ix_kpi_agent_days_key",
        "kpi_agent_days",
        ["day", "agent", *DIMENSIONS],
        unique=True,
        postgresql_nulls_not_distinct=True,
    )
    # What the consumer reads to recount one interaction and the neighbours its flags depend on.
    for table in ("assignments", "clocks", "surveys", "followups"):
        op.create_index(f"ix_{table}_interaction_id", table, ["interaction_id"])
    op.create_index(
        "ix_interactions_party_ref_received_at", "interactions", ["party_ref", "received_at"]
    )
    op.create_index(
        "ix_interactions_party_ref_resolved_at", "interactions", ["party_ref", "resolved_at"]
    )
    op.execute(_view())
    op.execute(DETAILS_VIEW)

    keys = "interaction_id, day, channel, queue, party_kind, agent"
    op.execute(
        f"INSERT INTO kpi_facts ({keys}, {', '.join(MEASURES)}) "
        f"SELECT {keys}, {_sums()} FROM kpi_contributions GROUP BY {keys}"
    )
    op.execute("INSERT INTO kpi_details SELECT * FROM kpi_detail_contributions")
    for table, key in (
        ("kpi_days", "day, channel, queue, party_kind"),
        ("kpi_agent_days", "day, agent, channel, queue, party_kind"),
    ):
        op.execute(
            f"INSERT INTO {table} ({key}, {', '.join(MEASURES)}) "
            f"SELECT {key}, {_sums()} FROM kpi_facts GROUP BY {key}"
        )


def downgrade() -> None:
    op.execute("DROP VIEW kpi_detail_contributions")
    op.execute("DROP VIEW kpi_contributions")
    op.drop_index("ix_interactions_party_ref_resolved_at", table_name="interactions")
    op.drop_index("ix_interactions_party_ref_received_at", table_name="interactions")
    for table in ("assignments", "clocks", "surveys", "followups"):
        op.drop_index(f"ix_{table}_interaction_id", table_name=table)
    for table in ("kpi_agent_days", "kpi_days", "kpi_details", "kpi_facts", "kpi_settings"):
        op.drop_table(table)
