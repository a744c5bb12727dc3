"""The due-timer on the real PostgreSQL (and Kafka): the grace, the catch-up hold, a bad clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import yaml
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from atende_events.consumer import claim
from atende_events.db import outbox
from atende_events.envelope import decode
from sla import service
from sla.domain.book import PolicyBook, load_book
from sla.models import Clock
from tests.infra import eventually, fresh_namespace, migrate, scratch_database
from tests.service_checks import build_app, serving
from tests.sla.integration.support import (
    ADMIN,
    TEST_BOOK,
    kinds,
    lifecycle,
    of,
    publish,
    received,
    settings_for,
    sla_events,
)

BOOK: PolicyBook = load_book(yaml.safe_load(TEST_BOOK))
URGENT = "test-urgent-3s"  # a 3 s regulatory resolution clock, warned at half time


@asynccontextmanager
async def migrated_database() -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with scratch_database("sla_timer") as url:
        await migrate("sla", url)
        engine = create_async_engine(url)
        try:
            yield async_sessionmaker(engine, expire_on_commit=False)
        finally:
            await engine.dispose()


async def receive_urgent(
    sessionmaker: async_sessionmaker[AsyncSession], at: datetime
) -> tuple[UUID, Clock]:
    call = received(channel="web", priority="urgent", at=at)
    async with sessionmaker.begin() as session:
        await service.record_received(
            session, book=BOOK, event=call.data, correlation_id=call.correlationid
        )
        clock = await session.scalar(
            select(Clock).where(
                Clock.interaction_id == call.data.interaction_id, Clock.policy_id == URGENT
            )
        )
    assert clock is not None
    return call.data.interaction_id, clock


async def fire(
    sessionmaker: async_sessionmaker[AsyncSession],
    now: datetime,
    *,
    grace: float = 2,
    max_failures: int = 5,
) -> int:
    async with sessionmaker.begin() as session:
        return await service.fire_due(
            session,
            book=BOOK,
            now=now,
            limit=10,
            breach_grace=timedelta(seconds=grace),
            known_until=now,  # every stop event known: the grace alone decides
            max_failures=max_failures,
        )


async def clock_now(sessionmaker: async_sessionmaker[AsyncSession], clock_id: UUID) -> Clock:
    async with sessionmaker() as session:
        clock = await session.get(Clock, clock_id)
    assert clock is not None
    return clock


async def emitted(sessionmaker: async_sessionmaker[AsyncSession]) -> list[tuple[str, str]]:
    """Every event in the outbox as (type, clock id), oldest first."""
    async with sessionmaker() as session:
        payloads = await session.scalars(select(outbox.c.payload).order_by(outbox.c.id))
        events = [decode(payload) for payload in payloads]
    return [(e.type, str(e.data.clock_id)) for e in events]  # type: ignore[attr-defined]


async def test_the_timer_breaches_only_once_the_grace_has_passed() -> None:
    async with migrated_database() as sessionmaker:
        t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
        _, clock = await receive_urgent(sessionmaker, t0)
        assert clock.due_at == t0 + timedelta(seconds=3)

        # Past the deadline but within the grace: only the warning fires.
        assert await fire(sessionmaker, clock.due_at + timedelta(seconds=1.9)) == 1
        assert (await clock_now(sessionmaker, clock.clock_id)).state == "running"
        assert await fire(sessionmaker, clock.due_at + timedelta(seconds=1.9)) == 0

        assert await fire(sessionmaker, clock.due_at + timedelta(seconds=2)) == 1
        breached = await clock_now(sessionmaker, clock.clock_id)
        assert (breached.state, breached.closed_at) == ("breached", clock.due_at)
        mine = [t for t, c in await emitted(sessionmaker) if c == str(clock.clock_id)]
        assert mine == ["atende.sla.started.v1", "atende.sla.warning.v1", "atende.sla.breached.v1"]


async def test_a_clock_the_timer_fails_on_is_quarantined_and_holds_up_no_other() -> None:
    async with migrated_database() as sessionmaker:
        t0 = datetime.now(UTC) - timedelta(minutes=1)
        _, bad = await receive_urgent(sessionmaker, t0)
        _, good = await receive_urgent(sessionmaker, t0 + timedelta(seconds=1))
        async with sessionmaker.begin() as session:
            # Its events can no longer be built: no such kind of clock.
            await session.execute(
                update(Clock).where(Clock.clock_id == bad.clock_id).values(kind="bogus")
            )
        now = t0 + timedelta(minutes=1)

        # The bad clock comes first (due first); the good one fires all the same.
        assert await fire(sessionmaker, now, max_failures=2) == 1
        failing = await clock_now(sessionmaker, bad.clock_id)
        assert (failing.state, failing.timer_failures) == ("running", 1)
        assert failing.quarantined_at is None and "ValidationError" in (failing.timer_error or "")
        assert (await clock_now(sessionmaker, good.clock_id)).state == "breached"

        assert await fire(sessionmaker, now, max_failures=2) == 0
        quarantined = await clock_now(sessionmaker, bad.clock_id)
        assert (quarantined.timer_failures, quarantined.quarantined_at) == (2, now)

        # Left out from now on: not taken, not counted again.
        assert await fire(sessionmaker, now + timedelta(seconds=5), max_failures=2) == 0
        assert (await clock_now(sessionmaker, bad.clock_id)).timer_failures == 2
        breaches = [c for t, c in await emitted(sessionmaker) if t == "atende.sla.breached.v1"]
        assert breaches == [str(good.clock_id)]


async def test_a_stop_in_time_still_on_kafka_when_sla_starts_is_met_not_breached(
    tmp_path: Path,
) -> None:
    namespace = await fresh_namespace()
    group = f"{namespace}atende-sla"
    overrides = {**settings_for(tmp_path), "topic_namespace": namespace, "consumer_group": group}
    t0 = datetime.now(UTC) - timedelta(seconds=30)
    call = received(channel="web", priority="urgent", at=t0)
    iid = call.data.interaction_id
    resolution = lifecycle("resolved", iid, t0 + timedelta(seconds=1))  # 2 s before the deadline
    async with scratch_database("sla") as url:
        await migrate("sla", url)
        app = build_app("sla", url, **overrides)
        # An earlier instance handled the receipt and stopped; the resolution came meanwhile and
        # waits on Kafka, behind the receipt, whose offset was never committed.
        engine = create_async_engine(url)
        try:
            async with async_sessionmaker(engine).begin() as session:
                assert await claim(session, consumer=group, event=call)
                await service.record_received(
                    session, book=app.state.book, event=call.data, correlation_id=None
                )
        finally:
            await engine.dispose()
        await publish(namespace, call, resolution)
        assert datetime.now(UTC) > t0 + timedelta(seconds=3 + app.state.settings.breach_grace)

        async with serving(app) as client:

            async def closed() -> Any:
                reply = await client.get(f"/v1/sla/interactions/{iid}", headers=ADMIN)
                states = {c["policy_id"]: c["state"] for c in reply.json()["clocks"]}
                return states if states.get(URGENT) != "running" else None

            states = await eventually(closed, what="the urgent clock closed")
            events = of(await sla_events(namespace, within=5), iid)
    assert states[URGENT] == "met"
    urgent = [e for e in events if e.data.policy_id == URGENT]
    assert kinds(urgent) == ["started", "met"]
    assert urgent[1].data.occurred_at == t0 + timedelta(seconds=1)
