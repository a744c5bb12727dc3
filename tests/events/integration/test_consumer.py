"""The consumer runner against the real broker and database: retries, DLQ, redelivery, crashes."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atende_events import consumer as consumer_module
from atende_events import envelope as envelope_module
from atende_events.consumer import Batched, ConsumerRunner
from atende_events.envelope import Envelope, encode
from atende_events.intake import InteractionReceived
from atende_events.kafka import AIOKafkaConsumer, Publisher, TopicPartition
from atende_events.samples import sample_event
from atende_events.topics import dlq_topic
from tests.events.integration.conftest import effects
from tests.infra import KAFKA_BOOTSTRAP, eventually, random_topic, read_topic

RECEIVED = InteractionReceived.event_type


def received_event() -> Envelope[Any]:
    """A valid interaction.received event with a fresh id."""
    return sample_event(RECEIVED).model_copy(update={"id": uuid.uuid4()})


class FlakyHandler:
    """Records an effect per event; fails the first `failures[event_id]` times it sees an event."""

    def __init__(self, failures: dict[uuid.UUID, int] | None = None) -> None:
        self.failures = dict(failures or {})
        self.calls: Counter[uuid.UUID] = Counter()

    async def __call__(self, event: Envelope[Any], session: AsyncSession) -> None:
        self.calls[event.id] += 1
        await session.execute(insert(effects).values(event_id=event.id, note="handled"))
        if self.calls[event.id] <= self.failures.get(event.id, 0):
            raise RuntimeError(f"deliberate failure {self.calls[event.id]} of {event.id}")


@asynccontextmanager
async def consuming(
    topic: str,
    handler: Callable[..., Any] | Batched,
    sessionmaker: async_sessionmaker[AsyncSession],
    publisher: Publisher,
    *,
    group: str | None = None,
    max_attempts: int = 3,
    also: Sequence[str] = (),
    concurrency: int = 1,
    linger: float = 0.0,
    transaction_size: int = 250,
) -> AsyncIterator[ConsumerRunner]:
    runner = ConsumerRunner(
        name=group or f"test-{uuid.uuid4().hex[:8]}",
        bootstrap_servers=KAFKA_BOOTSTRAP,
        topics=[topic, *also],
        sessionmaker=sessionmaker,
        handlers={InteractionReceived: handler},
        publisher=publisher,
        max_attempts=max_attempts,
        first_backoff=0.01,
        max_backoff=0.05,
        concurrency=concurrency,
        linger=linger,
        transaction_size=transaction_size,
    )
    runner.start()
    try:
        yield runner
    finally:
        await runner.stop()


async def publish(publisher: Publisher, topic: str, event: Envelope[Any]) -> None:
    await publisher.send_and_wait(topic, encode(event), key=str(event.subject).encode())


async def effect_counts(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[uuid.UUID, int]:
    async with sessionmaker() as session:
        rows = await session.execute(
            select(effects.c.event_id, func.count()).group_by(effects.c.event_id)
        )
        return {event_id: int(count) for event_id, count in rows.all()}


async def test_a_handler_that_fails_twice_succeeds_on_retry_with_one_effect(
    sessionmaker: async_sessionmaker[AsyncSession], publisher: Publisher
) -> None:
    topic = await random_topic()
    event = received_event()
    handler = FlakyHandler(failures={event.id: 2})
    async with consuming(topic, handler, sessionmaker, publisher):
        await publish(publisher, topic, event)
        counts = await eventually(lambda: effect_counts(sessionmaker), what="the effect")
    assert handler.calls[event.id] == 3
    # The two failed attempts rolled back their effect together with their inbox claim.
    assert counts == {event.id: 1}
    assert await read_topic(dlq_topic(topic), at_least=0, within=1) == []


async def test_a_record_that_always_fails_goes_to_the_dlq_and_the_next_is_handled(
    sessionmaker: async_sessionmaker[AsyncSession], publisher: Publisher
) -> None:
    topic = await random_topic(partitions=1)
    poison, good = received_event(), received_event()
    handler = FlakyHandler(failures={poison.id: 1_000})
    async with consuming(topic, handler, sessionmaker, publisher, max_attempts=3):
        await publish(publisher, topic, poison)
        await publish(publisher, topic, good)
        counts = await eventually(
            lambda: _has(effect_counts(sessionmaker), good.id), what="the good event's effect"
        )
    assert counts == {good.id: 1}
    assert handler.calls[poison.id] == 3
    [dead] = await read_topic(dlq_topic(topic), at_least=1)
    headers = dict(dead.headers)
    assert dead.value == encode(poison)
    assert headers["dlq.original_topic"] == topic.encode()
    assert headers["dlq.original_partition"] == b"0"
    assert headers["dlq.original_offset"] == b"0"
    assert headers["dlq.attempts"] == b"3"
    # The kind of failure only: an error's text may quote the record (a person's words).
    assert headers["dlq.error"] == b"RuntimeError"
    assert headers["dlq.error_type"] == b"RuntimeError"


async def test_a_record_the_decoder_fails_on_unexpectedly_is_dead_lettered_not_retried_forever(
    sessionmaker: async_sessionmaker[AsyncSession],
    publisher: Publisher,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    topic = await random_topic(partitions=1)
    good = received_event()
    real_decode = envelope_module.decode

    def decode_with_a_bug(raw: bytes) -> Envelope[Any]:
        if raw == b"trips the bug":
            raise RecursionError("a decoder bug, not the record's fault alone")
        return real_decode(raw)

    monkeypatch.setattr(consumer_module, "decode", decode_with_a_bug)
    handler = FlakyHandler()
    async with consuming(topic, handler, sessionmaker, publisher):
        await publisher.send_and_wait(topic, b"trips the bug", key=b"k")
        await publish(publisher, topic, good)
        await eventually(lambda: _has(effect_counts(sessionmaker), good.id), what="the good event")
    [dead] = await read_topic(dlq_topic(topic), at_least=1)
    assert dead.value == b"trips the bug"
    assert dict(dead.headers)["dlq.error_type"] == b"RecursionError"


@pytest.mark.parametrize(
    "raw",
    [b"not json", b"[1, 2]", b'{"specversion": "1.0"}', b""],
    ids=["not-json", "json-list", "no-attributes", "empty"],
)
async def test_an_undecodable_record_goes_to_the_dlq_at_once(
    raw: bytes, sessionmaker: async_sessionmaker[AsyncSession], publisher: Publisher
) -> None:
    topic = await random_topic(partitions=1)
    good = received_event()
    handler = FlakyHandler()
    async with consuming(topic, handler, sessionmaker, publisher):
        await publisher.send_and_wait(topic, raw, key=b"k")
        await publish(publisher, topic, good)
        await eventually(lambda: _has(effect_counts(sessionmaker), good.id), what="the good event")
    [dead] = await read_topic(dlq_topic(topic), at_least=1)
    assert dead.value == raw
    assert dict(dead.headers)["dlq.attempts"] == b"1"
    assert dict(dead.headers)["dlq.error_type"] in (b"DecodeError", b"UnknownEventType")


async def test_a_failing_record_in_a_batch_leaves_the_others_handled_once_and_in_order(
    sessionmaker: async_sessionmaker[AsyncSession], publisher: Publisher
) -> None:
    topic = await random_topic(partitions=1)
    events = [received_event() for _ in range(10)]
    poison, flaky = events[3], events[6]
    handler = FlakyHandler(failures={poison.id: 1_000, flaky.id: 1})
    # Published before the consumer starts, so that they come in one poll: one batch.
    for event in events:
        await publish(publisher, topic, event)
    async with consuming(topic, handler, sessionmaker, publisher, max_attempts=3):
        await eventually(
            lambda: _has(effect_counts(sessionmaker), events[-1].id), what="the last event"
        )
        async with sessionmaker() as session:
            handled = (
                await session.scalars(select(effects.c.event_id).order_by(effects.c.seq))
            ).all()
    # Each committed once, in the order of the partition; the poison alone rolled back.
    assert handled == [event.id for event in events if event is not poison]
    assert handler.calls[poison.id] == 3
    [dead] = await read_topic(dlq_topic(topic), at_least=1)
    assert dead.value == encode(poison)
    assert dict(dead.headers)["dlq.attempts"] == b"3"


class FlakyBatchHandler:
    """Writes a run of events in one statement; fails any run holding one of `poison`."""

    def __init__(self, poison: set[uuid.UUID]) -> None:
        self.poison = poison
        self.runs: list[list[uuid.UUID]] = []

    async def __call__(self, events: Sequence[Envelope[Any]], session: AsyncSession) -> None:
        self.runs.append([event.id for event in events])
        await session.execute(
            insert(effects), [{"event_id": event.id, "note": "handled"} for event in events]
        )
        if self.poison & {event.id for event in events}:
            raise RuntimeError("deliberate failure of a run")


async def test_a_batched_handler_takes_a_run_at_once_and_a_poison_in_it_is_found_alone(
    sessionmaker: async_sessionmaker[AsyncSession], publisher: Publisher
) -> None:
    topic = await random_topic(partitions=1)
    events = [received_event() for _ in range(10)]
    poison = events[4]
    handler = FlakyBatchHandler(poison={poison.id})
    for event in events:
        await publish(publisher, topic, event)
    async with consuming(topic, Batched(handler), sessionmaker, publisher, max_attempts=3):
        await eventually(
            lambda: _has(effect_counts(sessionmaker), events[-1].id), what="the last event"
        )
        async with sessionmaker() as session:
            handled = (
                await session.scalars(select(effects.c.event_id).order_by(effects.c.seq))
            ).all()
    # The first call had the whole poll; after it failed, every event was tried alone.
    assert handler.runs[0] == [event.id for event in events]
    assert [event.id for event in events if event is not poison] == handled
    assert handler.runs.count([poison.id]) == 3
    [dead] = await read_topic(dlq_topic(topic), at_least=1)
    assert dead.value == encode(poison)
    assert dict(dead.headers)["dlq.attempts"] == b"3"


async def test_a_lingering_consumer_takes_records_that_come_soon_after_in_the_same_batch(
    sessionmaker: async_sessionmaker[AsyncSession], publisher: Publisher
) -> None:
    topic = await random_topic(partitions=1)
    warm_up, first, second = received_event(), received_event(), received_event()
    handler = FlakyBatchHandler(poison=set())
    async with consuming(topic, Batched(handler), sessionmaker, publisher, linger=1.5):
        # Once this is handled the consumer has its partition and polls as it will below.
        await publish(publisher, topic, warm_up)
        await eventually(lambda: _has(effect_counts(sessionmaker), warm_up.id), what="warm-up")
        await publish(publisher, topic, first)
        await asyncio.sleep(0.3)
        await publish(publisher, topic, second)
        await eventually(lambda: _has(effect_counts(sessionmaker), second.id), what="the second")
    # Without the linger the first would have been handled alone, 0.3 s before the second.
    assert handler.runs == [[warm_up.id], [first.id, second.id]]


async def test_a_backlog_is_handled_in_transactions_of_at_most_the_transaction_size(
    sessionmaker: async_sessionmaker[AsyncSession], publisher: Publisher
) -> None:
    topic = await random_topic(partitions=1)
    events = [received_event() for _ in range(25)]
    transactions: dict[uuid.UUID, int] = {}

    async def note_transaction(batch: Sequence[Envelope[Any]], session: AsyncSession) -> None:
        txid = await session.scalar(text("SELECT txid_current()"))
        for event in batch:
            transactions[event.id] = int(txid or 0)
            await session.execute(insert(effects).values(event_id=event.id, note="handled"))

    for event in events:  # a backlog: the first poll brings all of it
        await publish(publisher, topic, event)
    async with consuming(
        topic, Batched(note_transaction), sessionmaker, publisher, transaction_size=10
    ):
        await eventually(lambda: _all(effect_counts(sessionmaker), len(events)), what="all")
    sizes = Counter(transactions.values())
    assert max(sizes.values()) == 10 and len(sizes) >= 3, sizes
    # In order: each transaction takes the next run of the backlog.
    assert [transactions[e.id] for e in events] == sorted(transactions[e.id] for e in events)


async def test_a_record_whose_type_header_names_an_event_not_handled_here_is_not_read(
    sessionmaker: async_sessionmaker[AsyncSession], publisher: Publisher
) -> None:
    topic = await random_topic(partitions=1)
    good = received_event()
    handler = FlakyHandler()
    async with consuming(topic, handler, sessionmaker, publisher):
        # Not an event at all, but its header says it is one this consumer has no handler for.
        await publisher.send_and_wait(
            topic, b"not json", key=b"k", headers=[("ce_type", b"atende.interaction.queued.v1")]
        )
        await publish(publisher, topic, good)
        counts = await eventually(
            lambda: _has(effect_counts(sessionmaker), good.id), what="the good event"
        )
    assert counts == {good.id: 1}
    assert await read_topic(dlq_topic(topic), at_least=0, within=1) == []


async def test_a_redelivered_event_changes_nothing(
    sessionmaker: async_sessionmaker[AsyncSession], publisher: Publisher
) -> None:
    topic = await random_topic(partitions=1)
    event, marker = received_event(), received_event()
    handler = FlakyHandler()
    async with consuming(topic, handler, sessionmaker, publisher):
        for _ in range(3):
            await publish(publisher, topic, event)
        await publish(publisher, topic, marker)
        counts = await eventually(
            lambda: _has(effect_counts(sessionmaker), marker.id), what="the marker event"
        )
    assert counts == {event.id: 1, marker.id: 1}
    assert handler.calls[event.id] == 1


async def test_a_crash_between_db_commit_and_offset_commit_duplicates_nothing(
    sessionmaker: async_sessionmaker[AsyncSession],
    publisher: Publisher,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    topic = await random_topic(partitions=1)
    group = f"test-crash-{uuid.uuid4().hex[:8]}"
    events = [received_event() for _ in range(5)]
    for event in events:
        await publish(publisher, topic, event)

    async def crash(self: ConsumerRunner, *args: object) -> None:
        raise RuntimeError("the process died before committing offsets")

    first_handler = FlakyHandler()
    with monkeypatch.context() as patch:
        patch.setattr(ConsumerRunner, "_commit_offsets", crash)
        runner = ConsumerRunner(
            name=group,
            bootstrap_servers=KAFKA_BOOTSTRAP,
            topics=[topic],
            sessionmaker=sessionmaker,
            handlers={InteractionReceived: first_handler},
            publisher=publisher,
        )
        with pytest.raises(RuntimeError, match="died before committing"):
            await runner.run_once()
    assert sum(first_handler.calls.values()) == 5, "the crashed consumer handled the batch"

    second_handler = FlakyHandler()
    async with consuming(topic, second_handler, sessionmaker, publisher, group=group):
        marker = received_event()
        await publish(publisher, topic, marker)
        counts = await eventually(
            lambda: _has(effect_counts(sessionmaker), marker.id), what="the marker after restart"
        )
    # The five events came back (their offsets were never committed) and were recognised.
    assert counts == {**dict.fromkeys((event.id for event in events), 1), marker.id: 1}
    assert dict(second_handler.calls) == {marker.id: 1}


async def _has(counts_coro: Any, event_id: uuid.UUID) -> dict[uuid.UUID, int] | None:
    counts: dict[uuid.UUID, int] = await counts_coro
    return counts if event_id in counts else None


async def test_a_rebalance_mid_batch_keeps_offsets_committing_and_effects_single(
    sessionmaker: async_sessionmaker[AsyncSession], publisher: Publisher
) -> None:
    topic = await random_topic(partitions=2)
    group = f"test-rebalance-{uuid.uuid4().hex[:8]}"
    events = [received_event() for _ in range(300)]
    for event in events:
        await publish(publisher, topic, event)

    class SlowHandler(FlakyHandler):
        async def __call__(self, event: Envelope[Any], session: AsyncSession) -> None:
            await super().__call__(event, session)
            await asyncio.sleep(0.03)  # a batch is still under way when the second member joins

    first, second = SlowHandler(), FlakyHandler()
    async with consuming(topic, first, sessionmaker, publisher, group=group):
        await eventually(lambda: _true(sum(first.calls.values()) >= 20), what="the first batch")
        async with consuming(topic, second, sessionmaker, publisher, group=group):
            counts = await eventually(
                lambda: _all(effect_counts(sessionmaker), len(events)), within=60, what="all"
            )
            # Both members keep committing: the group's offsets reach the end of both partitions.
            await eventually(lambda: _committed_to_end(group, topic), within=30, what="commits")
    assert counts == dict.fromkeys((event.id for event in events), 1)


async def test_an_event_type_this_version_does_not_know_is_skipped_not_dead_lettered(
    sessionmaker: async_sessionmaker[AsyncSession], publisher: Publisher
) -> None:
    topic = await random_topic(partitions=1)
    future = json.loads(encode(received_event()))
    future["type"] = "atende.interaction.teleported.v1"
    good = received_event()
    async with consuming(topic, FlakyHandler(), sessionmaker, publisher):
        await publisher.send_and_wait(topic, json.dumps(future).encode(), key=b"k")
        await publish(publisher, topic, good)
        await eventually(lambda: _has(effect_counts(sessionmaker), good.id), what="the good event")
    assert await read_topic(dlq_topic(topic), at_least=0, within=1) == []


async def test_caught_up_turns_true_once_the_backlog_is_consumed(
    sessionmaker: async_sessionmaker[AsyncSession], publisher: Publisher
) -> None:
    topic = await random_topic(partitions=2)
    events = [received_event() for _ in range(30)]
    for event in events:
        await publish(publisher, topic, event)
    handler = FlakyHandler()
    async with consuming(topic, handler, sessionmaker, publisher) as runner:
        assert not runner.caught_up()
        await eventually(lambda: _true(runner.caught_up()), what="the end of the backlog")
        assert sum(handler.calls.values()) == len(events)


async def _true(value: bool) -> bool:
    return value


async def _all(counts_coro: Any, expected: int) -> dict[uuid.UUID, int] | None:
    counts: dict[uuid.UUID, int] = await counts_coro
    return counts if len(counts) >= expected else None


async def _committed_to_end(group: str, topic: str) -> bool:
    checker = AIOKafkaConsumer(
        bootstrap_servers=KAFKA_BOOTSTRAP, group_id=group, enable_auto_commit=False
    )
    await checker.start()
    try:
        partitions = [TopicPartition(topic, p) for p in (0, 1)]
        ends = await checker.end_offsets(partitions)
        return all([await checker.committed(tp) == ends[tp] for tp in partitions])
    finally:
        await checker.stop()


async def test_lanes_run_at_once_but_never_two_events_of_one_interaction(
    sessionmaker: async_sessionmaker[AsyncSession], publisher: Publisher
) -> None:
    first_topic, second_topic = await random_topic(partitions=4), await random_topic(partitions=4)
    subjects = [str(uuid.uuid4()) for _ in range(12)]
    events = [
        (topic, received_event().model_copy(update={"subject": subject}))
        for subject in subjects
        for topic in (first_topic, second_topic, first_topic)
    ]
    for topic, event in events:
        await publish(publisher, topic, event)

    class WatchingHandler(FlakyHandler):
        def __init__(self) -> None:
            super().__init__()
            self.in_flight: Counter[str] = Counter()
            self.most_at_once = 0
            self.same_interaction_at_once = False

        async def __call__(self, event: Envelope[Any], session: AsyncSession) -> None:
            subject = str(event.subject)
            self.same_interaction_at_once |= self.in_flight[subject] > 0
            self.in_flight[subject] += 1
            self.most_at_once = max(self.most_at_once, sum(self.in_flight.values()))
            try:
                await super().__call__(event, session)
                await asyncio.sleep(0.02)
            finally:
                self.in_flight[subject] -= 1

    handler = WatchingHandler()
    async with consuming(
        first_topic, handler, sessionmaker, publisher, also=[second_topic], concurrency=4
    ):
        counts = await eventually(
            lambda: _all(effect_counts(sessionmaker), len(events)), within=60, what="all events"
        )
    assert counts == {event.id: 1 for _, event in events}
    assert 1 < handler.most_at_once <= 4
    # The events of one interaction (one key, so one partition number on both topics) share a
    # lane, whatever their topic.
    assert not handler.same_interaction_at_once
