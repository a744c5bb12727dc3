"""The outbox relay against the real broker and database: order, outages, fail-over."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from atende_events.db import outbox
from atende_events.envelope import Envelope, decode
from atende_events.kafka import Publisher
from atende_events.outbox import (
    MAX_EVENT_BYTES,
    EventTooLarge,
    OutboxRelay,
    add_event,
    relay_lock_key,
)
from atende_events.registry import model_for
from atende_events.samples import SAMPLES, sample_event
from tests.infra import KAFKA_BOOTSTRAP, ROOT, eventually, fresh_namespace, read_topic

INFRA = ROOT / "deploy" / "local" / "infra.sh"
RECEIVED = "atende.interaction.received.v1"
WATERMARK = "atende.outbox.watermark.v1"


def event_for(interaction_id: uuid.UUID, event_type: str) -> Envelope[Any]:
    """A sample event of the type, about the given interaction when the type has one."""
    if "interaction_id" in SAMPLES_FIELDS[event_type]:
        return sample_event(event_type, interaction_id=interaction_id)
    return sample_event(event_type)


SAMPLES_FIELDS = {name: set(model_for(name).model_fields) for name in SAMPLES}


@pytest.fixture
async def namespace() -> str:
    """Every test reads topics of its own: counts and order are about its own events only."""
    return await fresh_namespace()


@asynccontextmanager
async def relaying(engine: AsyncEngine, service: str, **options: Any) -> AsyncIterator[OutboxRelay]:
    publisher = Publisher(KAFKA_BOOTSTRAP, client_id=service)
    relay = OutboxRelay(service=service, engine=engine, publisher=publisher, **options)
    relay.start()
    try:
        yield relay
    finally:
        await relay.stop()
        await publisher.close()


async def write(
    sessionmaker: async_sessionmaker[AsyncSession], events: list[Envelope[Any]]
) -> None:
    async with sessionmaker.begin() as session:
        for event in events:
            await add_event(session, event)


async def pending(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
        )
        return int(count or 0)


async def test_every_event_type_is_published_once_and_in_order_per_interaction(
    engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession], namespace: str
) -> None:
    interactions = [uuid.uuid4() for _ in range(4)]
    by_topic: dict[str, list[Envelope[Any]]] = defaultdict(list)
    for _ in range(3):
        batch = [
            event_for(interaction, event_type)
            for interaction in interactions
            for event_type in SAMPLES
        ]
        for event in batch:
            by_topic[type(event.data).topic].append(event)
        await write(sessionmaker, batch)

    async with relaying(engine, f"svc-{uuid.uuid4().hex[:6]}", namespace=namespace):
        await eventually(lambda: _none_pending(sessionmaker), what="the outbox to drain")

    for topic, sent in by_topic.items():
        sent_ids = {event.id for event in sent}
        records = await read_topic(namespace + topic, at_least=len(sent))
        received = [decode(record.value) for record in records]
        assert sorted(e.id for e in received) == sorted(sent_ids), f"{topic}: each event once"
        assert sorted(received, key=_key) == sorted(sent, key=_key), "decoded equal to sent"
        for interaction in interactions:
            in_order = [e.id for e in sent if e.subject == str(interaction)]
            got = [e.id for e in received if e.subject == str(interaction)]
            assert got == in_order, f"{topic}: order of interaction {interaction}"
            partitions = {r.partition for r in records if r.key == str(interaction).encode()}
            assert len(partitions) <= 1, "one interaction's events share a partition"


async def test_events_written_while_kafka_is_down_are_published_once_when_it_returns(
    engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession], namespace: str
) -> None:
    interaction = uuid.uuid4()
    before = [event_for(interaction, "atende.interaction.received.v1")]
    during = [event_for(interaction, "atende.interaction.queued.v1") for _ in range(50)]
    async with relaying(
        engine, f"svc-{uuid.uuid4().hex[:6]}", max_backoff=1.0, namespace=namespace
    ):
        await write(sessionmaker, before)
        await eventually(lambda: _none_pending(sessionmaker), what="the first event")
        await _infra("kafka-down")
        try:
            await write(sessionmaker, during)
            await asyncio.sleep(2)  # the relay tries, fails and backs off while the broker is down
            assert await pending(sessionmaker) == len(during)
        finally:
            await _infra("kafka-up")
        await eventually(
            lambda: _none_pending(sessionmaker),
            within=90,
            what="the outbox to drain after restart",
        )

    ids = [event.id for event in before + during]
    records = await read_topic(namespace + "atende.interactions.v1", at_least=len(ids))
    published = [_id(r) for r in records if _id(r) in set(ids)]
    assert sorted(published) == sorted(ids), "every event exactly once"
    assert published == ids, "in the order written"


async def test_an_event_too_large_for_kafka_is_refused_and_its_transaction_writes_nothing(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    interaction = uuid.uuid4()
    fine = event_for(interaction, "atende.interaction.received.v1")
    # The contract bounds every text, so only an event built around validation gets this big.
    huge = fine.model_copy(
        update={
            "id": uuid.uuid4(),
            "data": fine.data.model_copy(update={"content": "x" * (MAX_EVENT_BYTES + 1)}),
        }
    )
    before = await pending(sessionmaker)

    with pytest.raises(EventTooLarge, match=str(huge.id)):
        await write(sessionmaker, [fine, huge])

    assert await pending(sessionmaker) == before, "neither event of the transaction was written"


async def test_only_one_relay_is_active_and_a_standby_takes_over_when_it_dies(
    engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession], namespace: str
) -> None:
    service = f"svc-{uuid.uuid4().hex[:6]}"
    url = engine.url.render_as_string(hide_password=False)
    leader = await asyncio.create_subprocess_exec(
        sys.executable,
        str(Path(__file__).with_name("relay_process.py")),
        url,
        KAFKA_BOOTSTRAP,
        service,
        namespace,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        await eventually(lambda: _lock_held(engine, service), what="the subprocess relay to lead")
        async with relaying(engine, service, standby_poll=0.5, namespace=namespace) as standby:
            interaction = uuid.uuid4()
            first = [event_for(interaction, "atende.interaction.received.v1")]
            await write(sessionmaker, first)
            await eventually(lambda: _none_pending(sessionmaker), what="the leader to publish")
            assert not standby.active

            leader.send_signal(signal.SIGKILL)
            await leader.wait()
            started = asyncio.get_running_loop().time()
            await eventually(lambda: _true(standby.active), within=10, what="the standby to lead")
            takeover = asyncio.get_running_loop().time() - started

            second = [event_for(interaction, "atende.interaction.queued.v1") for _ in range(10)]
            await write(sessionmaker, second)
            await eventually(lambda: _none_pending(sessionmaker), what="the new leader to publish")
        assert takeover < 5
    finally:
        if leader.returncode is None:
            leader.kill()
            await leader.wait()

    ids = [event.id for event in first + second]
    records = await read_topic(namespace + "atende.interactions.v1", at_least=len(ids))
    assert [_id(r) for r in records if _id(r) in set(ids)] == ids


async def _none_pending(sessionmaker: async_sessionmaker[AsyncSession]) -> bool:
    return await pending(sessionmaker) == 0


async def _lock_held(engine: AsyncEngine, service: str) -> bool:
    """Tell whether another session holds the service's relay lock (by trying to take it)."""
    key = {"key": relay_lock_key(service)}
    async with engine.connect() as conn:
        got = await conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), key)
        if got:
            await conn.scalar(text("SELECT pg_advisory_unlock(:key)"), key)
    return not got


async def _true(value: bool) -> bool:
    return value


async def _infra(command: str) -> None:
    process = await asyncio.create_subprocess_exec("bash", str(INFRA), command)
    assert await process.wait() == 0, f"infra.sh {command} failed"


def _id(record: Any) -> uuid.UUID:
    return decode(record.value).id


def _key(event: Envelope[Any]) -> uuid.UUID:
    return event.id


async def test_a_leader_that_loses_its_lock_stops_and_order_holds_across_the_handover(
    engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession], namespace: str
) -> None:
    service = f"svc-{uuid.uuid4().hex[:6]}"
    interaction = uuid.uuid4()
    written: list[uuid.UUID] = []
    for _ in range(20):
        batch = [event_for(interaction, "atende.interaction.queued.v1") for _ in range(200)]
        await write(sessionmaker, batch)
        written.extend(event.id for event in batch)

    # Small batches keep the leader busy with full batches for a few seconds: the case where
    # it never pauses to look at its lock connection.
    async with relaying(engine, service, batch_size=20, namespace=namespace) as first:
        await eventually(lambda: _true(first.active), what="the first relay to lead")
        async with relaying(
            engine, service, batch_size=20, standby_poll=0.1, namespace=namespace
        ) as second:
            await eventually(
                lambda: _pending_below(sessionmaker, len(written) - 200), what="a drain"
            )
            # An idle-session timeout or a network cut ends the lock's session, not the process.
            await _terminate_lock_session(engine, service)
            await eventually(lambda: _true(second.active), what="the standby to lead")
            await eventually(lambda: _none_pending(sessionmaker), within=60, what="the drain")
            assert not first.active, "the old leader stopped publishing"

    records = await read_topic(namespace + "atende.interactions.v1", at_least=len(written))
    published = [_id(r) for r in records if r.key == str(interaction).encode()]
    assert published == written, "each event once, in the order written, across the handover"


async def _pending_below(sessionmaker: async_sessionmaker[AsyncSession], limit: int) -> bool:
    return await pending(sessionmaker) < limit


async def _terminate_lock_session(engine: AsyncEngine, service: str) -> None:
    key = relay_lock_key(service) & 0xFFFFFFFFFFFFFFFF
    async with engine.connect() as conn:
        terminated = await conn.scalar(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_locks"
                " WHERE locktype = 'advisory' AND granted AND objsubid = 1"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                " AND classid = CAST(:high AS oid) AND objid = CAST(:low AS oid)"
            ),
            {"high": key >> 32, "low": key & 0xFFFFFFFF},
        )
    assert terminated == 1


async def test_a_lingering_relay_publishes_commits_that_come_soon_after_in_one_batch(
    engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession], namespace: str
) -> None:
    warm_up, first, second = (
        event_for(uuid.uuid4(), "atende.interaction.received.v1") for _ in range(3)
    )
    async with relaying(engine, f"svc-{uuid.uuid4().hex[:6]}", namespace=namespace, linger=1.5):
        # Once this is published the relay leads and waits for the next commit.
        await write(sessionmaker, [warm_up])
        await eventually(lambda: _none_pending(sessionmaker), what="the warm-up")
        await write(sessionmaker, [first])
        await asyncio.sleep(0.3)
        await write(sessionmaker, [second])
        await eventually(lambda: _none_pending(sessionmaker), what="both events")
    async with sessionmaker() as session:
        published = dict(
            (await session.execute(select(outbox.c.event_id, outbox.c.published_at))).all()
        )
    # One batch marks its rows in one transaction, so with one now(): without the linger the
    # first would have been published alone, 0.3 s before the second was even committed.
    assert published[first.id] == published[second.id]
    assert published[warm_up.id] < published[first.id]


async def test_watermarks_go_to_every_partition_behind_the_events_and_wait_for_open_work(
    engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession], namespace: str
) -> None:
    service = f"svc-{uuid.uuid4().hex[:6]}"
    topic = namespace + "atende.interactions.v1"
    events = [event_for(uuid.uuid4(), RECEIVED) for _ in range(6)]
    await write(sessionmaker, events)
    # A transaction of the service still open: it may commit an event dated from now on, so
    # no watermark may pass its start until it ends.
    async with engine.connect() as open_work:
        await open_work.begin()
        started = await open_work.scalar(text("SELECT now()"))
        options = {"namespace": namespace, "watermark_every": 0.2, "watermark_margin": 0.5}
        async with relaying(
            engine, service, watermark_topics=["atende.interactions.v1"], **options
        ):
            held = await _watermarks(topic, at_least=3 * 3)
            await open_work.rollback()
            passed = await eventually(
                lambda: _watermark_past(topic, started),
                what="a watermark past the transaction, once it ended",
            )
    assert all(mark.producer == service and mark.partitions == 3 for _, mark in held)
    assert {mark.partition for _, mark in held} == {0, 1, 2}
    assert all(record.partition == mark.partition for record, mark in held)
    assert all(mark.low_watermark < started for _, mark in held)
    assert passed
    # In each partition every event lies before the first watermark: it was published first.
    records = await read_topic(topic, at_least=len(events) + 9, within=10)
    by_partition: dict[int, list[str]] = defaultdict(list)
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        by_partition[record.partition].append(decode(record.value).type)
    assert sum(types.count(RECEIVED) for types in by_partition.values()) == len(events)
    for types in by_partition.values():
        assert RECEIVED not in types[types.index(WATERMARK) :]


async def _watermarks(topic: str, *, at_least: int) -> list[tuple[Any, Any]]:
    records = await read_topic(topic, at_least=at_least, within=15)
    return [
        (record, event.data)
        for record in records
        if (event := decode(record.value)).type == WATERMARK
    ]


async def _watermark_past(topic: str, moment: Any) -> bool:
    marks = await _watermarks(topic, at_least=1)
    return any(mark.low_watermark > moment for _, mark in marks)
