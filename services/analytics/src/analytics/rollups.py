"""Keep the KPI rollups: recount interactions at write time, in the events' own transaction.

What an interaction adds to the KPIs is a function of the read models alone (the view
kpi_contributions, migration 0003): its arrival, completion, acceptances, closed clocks, answers,
dispatches and follow-ups, each on its local day and under its group dimensions, with the FCR and
repeat-contact flags, resolved within 2 business days and the NPS category worked out. A handler
notes the interactions its event can have changed (`later`); before the transaction commits,
`settle` computes that again for each of them once, compares it with what `kpi_facts` says was
counted, and adds the difference to the daily rollups.

So the rollups never depend on the order events arrive in (a count is always recomputed from the
merged rows, never incremented by an event), a redelivered event changes nothing (the inbox stops
it, and recounting unchanged rows gives a zero difference), and an event that changes a flag of
another interaction (a new contact makes an earlier one not first-contact-resolved, or a later one
a repeat) recounts that one too. Recounts of one interaction, and of the neighbours of one party,
take transaction-scoped advisory locks, so that two consumers never count from stale snapshots.

Days and the service level depend on settings: the view counts with the time zone and answer
targets stored in kpi_settings (set by migration 0003 from the service's settings, or by
`rebuild`), whatever the consumer's own settings say. The KPI queries use the rollups only while
those match the service's settings, and compute from the read models otherwise (slower, same
figures) until `rebuild` counts everything again with the new settings.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import (
    Table,
    Uuid,
    any_,
    bindparam,
    column,
    delete,
    func,
    insert,
    literal,
    select,
    table,
    text,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from analytics import domain
from analytics.models import KPI_AGENT_DAYS, KPI_DAYS, KPI_DETAILS, KPI_FACTS, KPI_SETTINGS
from analytics.service import INTERACTIONS

REPEAT_WINDOW = timedelta(days=7)
"""How far apart two contacts of a party may be for one to change the other's flags."""

DIMENSIONS = ("day", "channel", "queue", "party_kind", "agent")
CONTRIBUTIONS = table(
    "kpi_contributions",
    column("interaction_id"),
    *[column(name) for name in DIMENSIONS],
    *[column(name) for name in domain.MEASURES],
)


LOCKS = text(
    "SELECT pg_advisory_xact_lock(hashtextextended(name, 0)) "
    "FROM (SELECT name FROM unnest(CAST(:names AS text[])) AS name ORDER BY name) AS names"
)


async def _lock(session: AsyncSession, names: Iterable[str]) -> None:
    """Take advisory locks, always in the same order, until the transaction ends."""
    ordered = sorted(set(names))
    if ordered:
        await session.execute(LOCKS, {"names": ordered})


# Both halves join the contacts to one index each (party and received, party and resolved).
NEIGHBOURS = text(
    "SELECT i.interaction_id"
    " FROM unnest(CAST(:parties AS text[]), CAST(:ats AS timestamptz[])) AS c(party, at)"
    " JOIN interactions AS i ON i.party_ref = c.party"
    " AND i.received_at BETWEEN c.at - CAST(:window AS interval)"
    " AND c.at + CAST(:window AS interval)"
    " UNION"
    " SELECT i.interaction_id"
    " FROM unnest(CAST(:parties AS text[]), CAST(:ats AS timestamptz[])) AS c(party, at)"
    " JOIN interactions AS i ON i.party_ref = c.party"
    " AND i.resolved_at >= c.at - CAST(:window AS interval) AND i.received_at <= c.at"
)


async def neighbours(
    session: AsyncSession, contacts: Collection[tuple[str, datetime]]
) -> set[UUID]:
    """Name the contacts whose flags these contacts (party, received at) can change.

    One received within 7 days after a contact may be a repeat of it; one received before it and
    resolved at most 7 days before it arrived may stop being first-contact resolved.
    """
    if not contacts:
        return set()
    found = await session.scalars(
        NEIGHBOURS,
        {
            "parties": [party for party, _ in contacts],
            "ats": [at for _, at in contacts],
            "window": REPEAT_WINDOW,
        },
    )
    return set(found)


_PENDING = "analytics.rollups.pending"


def later(
    session: AsyncSession,
    interaction_id: UUID,
    *,
    with_neighbours: bool = False,
    details: bool = True,
) -> None:
    """Note an interaction to recount when the transaction's events are all merged (`settle`).

    A batch of events touches each interaction several times (received, queued, two clocks
    started...); recounting it once at the end gives the same rollups for a fraction of the work.
    """
    pending: dict[UUID, tuple[bool, bool]] = session.info.setdefault(_PENDING, {})
    neighbours_before, details_before = pending.get(interaction_id, (False, False))
    pending[interaction_id] = (neighbours_before or with_neighbours, details_before or details)


async def settle(session: AsyncSession) -> None:
    """Recount every interaction noted with `later` in this transaction, each once."""
    pending: dict[UUID, tuple[bool, bool]] = session.info.pop(_PENDING, {})
    if not pending:
        return
    ids = set(pending)
    wanted = [identifier for identifier, (neighbours_too, _) in pending.items() if neighbours_too]
    if wanted:
        i = INTERACTIONS
        rows = (
            await session.execute(
                select(i.c.party_ref, i.c.received_at).where(i.c.interaction_id.in_(wanted))
            )
        ).all()
        contacts = [(r.party_ref, r.received_at) for r in rows if r.party_ref and r.received_at]
        # Parties first, then interactions, each set in one order, in every transaction.
        await _lock(session, [f"kpi-party:{party}" for party, _ in contacts])
        ids |= await neighbours(session, contacts)
    await _lock(session, [f"kpi-interaction:{identifier}" for identifier in ids])
    await recount_many(session, ids, details=any(details for _, details in pending.values()))


DETAIL_COLUMNS = ("interaction_id", *DIMENSIONS, "kind", "theme", "seconds")
DETAIL_CONTRIBUTIONS = table("kpi_detail_contributions", *[column(name) for name in DETAIL_COLUMNS])

# One statement text whatever the number of ids: asyncpg prepares it once per connection and
# PostgreSQL can keep a generic plan, instead of planning the view's eight branches every time.
_IDS: Any = bindparam("ids", type_=ARRAY(Uuid()))
_C = CONTRIBUTIONS.c
NOW_AND_COUNTED = union_all(
    # What the interactions add to the KPIs now, from the read models...
    select(
        literal(True).label("now"),
        _C.interaction_id,
        *[_C[name] for name in DIMENSIONS],
        *[func.sum(_C[name]).label(name) for name in domain.MEASURES],
    )
    .where(_C.interaction_id == any_(_IDS))
    .group_by(_C.interaction_id, *[_C[name] for name in DIMENSIONS]),
    # ...and what they were counted as so far.
    select(
        literal(False),
        *[KPI_FACTS.c[name] for name in ("interaction_id", *DIMENSIONS, *domain.MEASURES)],
    ).where(KPI_FACTS.c.interaction_id == any_(_IDS)),
)
DETAILS_NOW_AND_COUNTED = union_all(
    select(
        literal(True).label("now"), *[DETAIL_CONTRIBUTIONS.c[name] for name in DETAIL_COLUMNS]
    ).where(DETAIL_CONTRIBUTIONS.c.interaction_id == any_(_IDS)),
    select(literal(False), *[KPI_DETAILS.c[name] for name in DETAIL_COLUMNS]).where(
        KPI_DETAILS.c.interaction_id == any_(_IDS)
    ),
)
FORGET_DETAILS = delete(KPI_DETAILS).where(KPI_DETAILS.c.interaction_id == any_(_IDS))
REMEMBER_DETAILS = insert(KPI_DETAILS)

FORGET = delete(KPI_FACTS).where(KPI_FACTS.c.interaction_id == any_(_IDS))
REMEMBER = insert(KPI_FACTS)


def _adding(rollup: Table, key: Sequence[str]) -> Any:
    statement = pg_insert(rollup)
    return statement.on_conflict_do_update(
        index_elements=list(key),
        set_={name: rollup.c[name] + statement.excluded[name] for name in domain.MEASURES},
    )


AGENT_DAY_KEY = ("day", "agent", "channel", "queue", "party_kind")
DAY_KEY = ("day", "channel", "queue", "party_kind")
ADD_AGENT_DAYS = _adding(KPI_AGENT_DAYS, AGENT_DAY_KEY)
ADD_DAYS = _adding(KPI_DAYS, DAY_KEY)


async def recount_many(
    session: AsyncSession, ids: Collection[UUID], *, details: bool = True
) -> None:
    """Recount interactions already locked by the caller."""
    params = {"ids": list(ids)}
    current: list[domain.Contribution] = []
    counted: list[domain.Contribution] = []
    for row in await session.execute(NOW_AND_COUNTED, params):
        (current if row.now else counted).append(_contribution(row._mapping))
    if details:
        await _recount_details(session, params)
    changed = domain.recounted(counted, current)
    if not changed:
        return
    await session.execute(FORGET, {"ids": list(changed)})
    fresh = [c for c in current if c.interaction_id in changed]
    if fresh:
        await session.execute(REMEMBER, [_row(c) for c in fresh])
    deltas = domain.rollup_deltas([c for c in counted if c.interaction_id in changed], fresh)
    await _add(session, ADD_AGENT_DAYS, DIMENSIONS, deltas)
    await _add(session, ADD_DAYS, DAY_KEY, domain.without_agent(deltas))


async def _recount_details(session: AsyncSession, params: Mapping[str, Any]) -> None:
    """Replace the detail rows of the interactions whose details changed."""
    current: list[tuple[Any, ...]] = []
    counted: list[tuple[Any, ...]] = []
    for row in await session.execute(DETAILS_NOW_AND_COUNTED, params):
        (current if row[0] else counted).append(tuple(row)[1:])
    changed = domain.changed_details(counted, current)
    if not changed:
        return
    await session.execute(FORGET_DETAILS, {"ids": list(changed)})
    fresh = [dict(zip(DETAIL_COLUMNS, row, strict=True)) for row in current if row[0] in changed]
    if fresh:
        await session.execute(REMEMBER_DETAILS, fresh)


def _contribution(row: Mapping[Any, Any]) -> domain.Contribution:
    return domain.Contribution(
        interaction_id=row["interaction_id"],
        key=(row["day"], row["channel"], row["queue"], row["party_kind"], row["agent"]),
        measures=tuple(row[name] for name in domain.MEASURES),
    )


def _row(contribution: domain.Contribution) -> dict[str, Any]:
    return {
        "interaction_id": contribution.interaction_id,
        **dict(zip(DIMENSIONS, contribution.key, strict=True)),
        **dict(zip(domain.MEASURES, contribution.measures, strict=True)),
    }


async def _add(
    session: AsyncSession,
    statement: Any,
    key: Sequence[str],
    deltas: Mapping[tuple[Any, ...], tuple[domain.Number, ...]],
) -> None:
    """Add deltas to rollup rows, in key order (two writers lock rows in the same order)."""
    if not deltas:
        return
    ordered = sorted(deltas.items(), key=lambda item: [(v is None, str(v)) for v in item[0]])
    await session.execute(
        statement,
        [
            {**dict(zip(key, k, strict=True)), **dict(zip(domain.MEASURES, v, strict=True))}
            for k, v in ordered
        ],
    )


async def counted_with(session: AsyncSession) -> Mapping[str, Any] | None:
    """Read what the rollups were counted with (time zone, answer targets, 2 business days)."""
    row = (await session.execute(select(KPI_SETTINGS).where(KPI_SETTINGS.c.id == 1))).one_or_none()
    return None if row is None else dict(row._mapping)


async def rebuild(
    session: AsyncSession,
    *,
    time_zone: str,
    answer_targets: Mapping[str, float],
    resolve_within_seconds: float,
) -> None:
    """Count every interaction again from the read models, with these settings.

    For a change of time zone or answer targets, or after loading read models in bulk. Takes
    an exclusive lock on the rollups: consumers wait until it commits.
    """
    await session.execute(
        text("LOCK TABLE kpi_facts, kpi_details, kpi_days, kpi_agent_days IN EXCLUSIVE MODE")
    )
    settings = {
        "time_zone": time_zone,
        "answer_targets": dict(answer_targets),
        "resolve_within_seconds": resolve_within_seconds,
    }
    statement = pg_insert(KPI_SETTINGS).values(id=1, **settings)
    await session.execute(statement.on_conflict_do_update(index_elements=["id"], set_=settings))
    for truncated in ("kpi_facts", "kpi_details", "kpi_days", "kpi_agent_days"):
        await session.execute(text(f"TRUNCATE {truncated}"))
    keys = "interaction_id, day, channel, queue, party_kind, agent"
    measures = ", ".join(domain.MEASURES)
    sums = ", ".join(f"sum({name})" for name in domain.MEASURES)
    await session.execute(
        text(
            f"INSERT INTO kpi_facts ({keys}, {measures}) "
            f"SELECT {keys}, {sums} FROM kpi_contributions GROUP BY {keys}"
        )
    )
    await session.execute(text("INSERT INTO kpi_details SELECT * FROM kpi_detail_contributions"))
    for rollup, key in (
        ("kpi_days", "day, channel, queue, party_kind"),
        ("kpi_agent_days", "day, agent, channel, queue, party_kind"),
    ):
        await session.execute(
            text(
                f"INSERT INTO {rollup} ({key}, {measures}) "
                f"SELECT {key}, {sums} FROM kpi_facts GROUP BY {key}"
            )
        )
