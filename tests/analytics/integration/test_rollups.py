"""KPI rollups kept at write time: the read models' figures, whatever order events come in.

Events are applied in-process through the consumer's own handlers and inbox claim (the Kafka part
is covered by test_kpis.py), so that many orders can be tried against the real PostgreSQL.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from analytics import domain, queries, rollups
from analytics.config import ANSWER_TARGETS
from analytics.consumers import handlers
from analytics.models import KPI_AGENT_DAYS, KPI_DAYS, KPI_FACTS
from analytics.schemas import Kpis
from atende_events.calendar import business_day_seconds
from atende_events.consumer import Batched, claim
from atende_events.db import make_engine
from atende_events.envelope import EventData, new_event
from atende_events.registry import SOURCES
from tests.analytics.integration.support import (
    _clock,
    _followup,
    _journey,
    _survey,
    at,
    party,
    seed_split,
    week,
)
from tests.infra import migrate, scratch_database

ZONE = ZoneInfo("America/Sao_Paulo")
CALENDAR = domain.business_calendar("America/Sao_Paulo")
FIRST, LAST = date(2025, 3, 1), date(2025, 6, 30)
GROUPINGS: list[tuple[str, ...]] = [
    (),
    ("channel",),
    ("channel", "day"),
    ("queue", "party_kind"),
    ("agent",),
    ("agent", "day"),
]
HANDLERS = {model.event_type: handler for model, handler in handlers(CALENDAR).items()}


@asynccontextmanager
async def database(revision: str = "head") -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A scratch analytics database migrated to the revision."""
    async with scratch_database("analytics_rollups") as url, sessions(url) as maker:
        await migrate("analytics", url, revision)
        yield maker


@asynccontextmanager
async def sessions(url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(url)
    try:
        yield async_sessionmaker(engine, expire_on_commit=False)
    finally:
        await engine.dispose()


async def apply(
    maker: async_sessionmaker[AsyncSession], events: Sequence[EventData], *, ids: list[Any]
) -> None:
    """Handle events as the consumer does: claim the id and run the handler in one transaction.

    `ids` gives each event's envelope id; the same id twice is a redelivery.
    """
    for data, event_id in zip(events, ids, strict=True):
        envelope = new_event(
            data, source=SOURCES[data.event_type], time=data.occurred_at, event_id=event_id
        )
        async with maker.begin() as session:
            if await claim(session, consumer="analytics-tests", event=envelope):
                handler = HANDLERS[envelope.type]
                if isinstance(handler, Batched):
                    await handler.handle([envelope], session)
                else:
                    await handler(envelope, session)
            await rollups.settle(session)


async def apply_once(maker: async_sessionmaker[AsyncSession], events: Sequence[EventData]) -> None:
    await apply(maker, events, ids=[uuid.uuid4() for _ in events])


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {name: _rounded(item) for name, item in value.items()}
    if isinstance(value, list):
        return [_rounded(item) for item in value]
    return value


async def report(
    maker: async_sessionmaker[AsyncSession], groups: Sequence[str], *, from_rollups: bool
) -> dict[str, Any]:
    """The KPIs per group over FIRST..LAST, from the rollups or from the read models."""
    start, end = domain.period_bounds(FIRST, LAST, zone=ZONE, max_days=366)
    now = datetime(2025, 7, 1, tzinfo=UTC)
    async with maker.begin() as session:
        if from_rollups:
            facts = await queries.kpi_facts_from_rollups(
                session, start=start, end=end, groups=groups, zone=ZONE, now=now
            )
        else:
            facts = await queries.kpi_facts_from_read_models(
                session,
                start=start,
                end=end,
                groups=groups,
                zone=ZONE,
                answer_targets=ANSWER_TARGETS,
                calendar=CALENDAR,
                now=now,
            )
    return {
        str(key): _rounded(Kpis.from_facts(values).model_dump(mode="json"))
        for key, values in facts.items()
    }


async def assert_rollups_match_read_models(maker: async_sessionmaker[AsyncSession]) -> None:
    for groups in GROUPINGS:
        from_rollups = await report(maker, groups, from_rollups=True)
        from_read_models = await report(maker, groups, from_rollups=False)
        assert from_rollups == from_read_models, groups


async def rollup_rows(maker: async_sessionmaker[AsyncSession]) -> dict[str, list[Any]]:
    """Every non-zero rollup row and every counted fact, in a comparable order."""
    rows: dict[str, list[Any]] = {}
    async with maker.begin() as session:
        for table in (KPI_DAYS, KPI_AGENT_DAYS, KPI_FACTS):
            found = (await session.execute(select(table))).all()
            rows[table.name] = sorted(
                (tuple(row) for row in found if any(row._mapping[n] for n in domain.MEASURES)),
                key=str,
            )
    return rows


def journeys(seed: int, count: int = 25) -> list[EventData]:
    """Random journeys of a few parties over three weeks: repeats, transfers, late answers."""
    rng = random.Random(seed)
    parties = [party(f"r{n}", rng.choice(["member", "provider"])) for n in range(6)]
    events: list[EventData] = []
    for _ in range(count):
        received = at(10, 11) + timedelta(minutes=rng.randrange(0, 21 * 24 * 60))
        channel = rng.choice(["phone", "chat", "web", "ombudsman", "outbound", "whatsapp"])
        resolved = received + timedelta(minutes=rng.choice([5, 90, 3000, 9000]))
        iid, journey = _journey(
            received=received, channel=channel, kind="member", ref=rng.choice(parties),
            demand=rng.choice(["debt", "authorization"]), queue=rng.choice(["dividas", "geral"]),
            agent=rng.choice(["ana", "bruno", "carla"]), wait=rng.choice([5, 30, 90]),
            handle=rng.choice([120, 333.3, 1000]),
            resolved_at=resolved if rng.random() < 0.8 else None,
            resolution=rng.choice(["resolved", "resolved", "unresolved"]),
            first_assignment=rng.random() < 0.8,
        )  # fmt: skip
        events += journey
        events += _clock(iid, "regulatory", received, resolved, rng.choice(["met", "breached"]))
        if rng.random() < 0.6:
            sid, answered = _survey(
                iid, resolved + timedelta(hours=1), nps=rng.randrange(11), csat=rng.randint(1, 5),
                themes=rng.sample(["wait_time", "courtesy", "price"], 2),
            )  # fmt: skip
            events += answered
            if rng.random() < 0.5:
                events += _followup(
                    iid, sid, resolved + timedelta(hours=3), resolved + timedelta(days=1)
                )
    return events


def everything() -> list[EventData]:
    events, _ = week()
    return events + seed_split() + journeys(seed=1)


async def test_rollups_give_the_figures_of_the_read_models() -> None:
    async with database() as maker:
        await apply_once(maker, everything())

        await assert_rollups_match_read_models(maker)


@pytest.mark.parametrize("seed", [7, 8])
async def test_any_order_and_redeliveries_give_the_same_rollups(seed: int) -> None:
    events = everything()
    rng = random.Random(seed)
    async with database() as in_order, database() as shuffled:
        await apply_once(in_order, events)
        ids = [uuid.uuid4() for _ in events]
        pairs = list(zip(events, ids, strict=True))
        rng.shuffle(pairs)
        # A third of the events come twice, the second time much later (a redelivery).
        pairs += rng.sample(pairs, len(pairs) // 3)
        await apply(shuffled, [e for e, _ in pairs], ids=[i for _, i in pairs])

        expected = await rollup_rows(in_order)
        assert await rollup_rows(shuffled) == expected
        await assert_rollups_match_read_models(shuffled)


async def test_a_duplicate_under_a_new_id_changes_nothing_either() -> None:
    events = everything()
    async with database() as maker:
        await apply_once(maker, events)
        before = await rollup_rows(maker)

        await apply_once(maker, events)  # a producer that published everything twice

        assert await rollup_rows(maker) == before


async def test_a_rebuild_counts_what_the_consumer_counted() -> None:
    async with database() as maker:
        await apply_once(maker, everything())
        counted = await rollup_rows(maker)

        async with maker.begin() as session:
            await rollups.rebuild(
                session,
                time_zone=ZONE.key,
                answer_targets=ANSWER_TARGETS,
                resolve_within_seconds=2 * business_day_seconds(CALENDAR),
            )

        assert await rollup_rows(maker) == counted


@pytest.mark.parametrize("order", ["in order", "the return first"])
async def test_a_return_within_7_days_recounts_the_first_contact(order: str) -> None:
    ref = party("returns")
    first, first_events = _journey(
        received=at(10, 12), channel="phone", kind="member", ref=ref, demand="debt",
        queue="dividas", agent="ana", wait=10, handle=100, resolved_at=at(10, 12, 5),
    )  # fmt: skip
    _, back_events = _journey(
        received=at(12, 12), channel="chat", kind="member", ref=ref, demand="debt",
        queue="dividas", agent="bruno", wait=10, handle=100, resolved_at=at(12, 12, 5),
    )  # fmt: skip
    initial, later = (
        (first_events, back_events) if order == "in order" else (back_events, first_events)
    )
    async with database() as maker:
        await apply_once(maker, initial)
        [alone] = (await report(maker, (), from_rollups=True)).values()
        assert (alone["fcr_count"], alone["repeat_contacts"]) == (1, 0)

        await apply_once(maker, later)

        [kpis] = (await report(maker, (), from_rollups=True)).values()
        # The first is no longer resolved at first contact; the return is a repeat contact.
        assert (kpis["resolved"], kpis["fcr_count"], kpis["repeat_contacts"]) == (2, 1, 1)
        await assert_rollups_match_read_models(maker)
        async with maker.begin() as session:
            flags = await session.execute(
                select(KPI_FACTS.c.fcr_count).where(
                    KPI_FACTS.c.interaction_id == first, KPI_FACTS.c.completed == 1
                )
            )
            assert flags.scalars().all() == [0]


LATER_COLUMNS = ("outcome varchar(32)", "original_demand_type varchar(64)")
"""Columns of `interactions` added after revision 0003 (0005, 0006)."""


async def test_the_upgrade_backfills_the_rollups_of_existing_read_models(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    events = everything()
    async with (
        scratch_database("analytics_rollups") as url,
        sessions(url) as before,
        database() as after,
    ):
        await migrate("analytics", url, "0002")
        # Today's consumer also writes columns later revisions added: lend them to the 0002
        # schema while it runs, and take them back before the upgrade adds them for real.
        async with before.begin() as session:
            for column in LATER_COLUMNS:
                await session.execute(text(f"ALTER TABLE interactions ADD COLUMN {column}"))
        # The consumer as it was before revision 0003: read models only.
        with monkeypatch.context() as patch:

            async def no_rollups(*args: Any, **kwargs: Any) -> None:
                return None

            patch.setattr(rollups, "settle", no_rollups)
            await apply_once(before, events)
            base = {
                groups: await report(before, groups, from_rollups=False) for groups in GROUPINGS
            }
        async with before.begin() as session:
            for column in LATER_COLUMNS:
                await session.execute(
                    text(f"ALTER TABLE interactions DROP COLUMN {column.split()[0]}")
                )
        await migrate("analytics", url)
        await apply_once(after, events)

        for groups in GROUPINGS:
            assert await report(before, groups, from_rollups=True) == base[groups], groups
        assert await rollup_rows(before) == await rollup_rows(after)


async def test_kpis_come_from_the_read_models_when_the_settings_changed() -> None:
    async with database() as maker:
        await apply_once(maker, everything())
        start, end = domain.period_bounds(FIRST, LAST, zone=ZONE, max_days=366)
        now = datetime(2025, 7, 1, tzinfo=UTC)
        targets = {**ANSWER_TARGETS, "phone": 30.0}
        async with maker.begin() as session:
            await session.execute(text("UPDATE kpi_days SET volume = volume + 1000"))
            facts = await queries.kpi_facts(
                session, start=start, end=end, groups=(), zone=ZONE, answer_targets=targets,
                calendar=CALENDAR, now=now,
            )  # fmt: skip
            counted = await queries.kpi_facts(
                session, start=start, end=end, groups=(), zone=ZONE,
                answer_targets=ANSWER_TARGETS, calendar=CALENDAR, now=now,
            )  # fmt: skip

        # Other answer targets than the rollups were counted with: the read models answer.
        assert facts[()]["volume"] < 1000
        assert counted[()]["volume"] > 1000
