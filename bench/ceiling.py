"""The machine's own ceiling, measured in the same run: raw PostgreSQL inserts and raw Kafka.

Each Atende figure is printed beside these, so a reader sees how much of the machine the services
use, not only an absolute number that depends on the box.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import asyncpg

from atende_events.envelope import encode
from atende_events.kafka import (
    AIOKafkaConsumer,
    TopicPartition,
    delete_topics,
    ensure_topics,
    make_producer,
)
from atende_events.samples import sample_event
from atende_events.topics import TopicSpec
from bench.stats import percentile

ROW_TABLE = """
CREATE TABLE IF NOT EXISTS bench_interactions (
    id uuid PRIMARY KEY,
    protocol text NOT NULL UNIQUE,
    channel text NOT NULL,
    party_ref text NOT NULL,
    subject text,
    description text,
    payload jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
)
"""


async def asyncpg_inserts(dsn: str, *, seconds: float, concurrency: int = 8) -> dict[str, Any]:
    """Insert interaction-sized rows, one committed statement each, from concurrent connections."""
    setup = await asyncpg.connect(dsn)
    await setup.execute(ROW_TABLE)
    await setup.execute("TRUNCATE bench_interactions")
    await setup.close()
    event = sample_event("atende.interaction.received.v1")
    payload = json.dumps(json.loads(encode(event)))
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker(n: int) -> None:
        conn = await asyncpg.connect(dsn)
        insert = await conn.prepare(
            "INSERT INTO bench_interactions (id, protocol, channel, party_ref, subject,"
            " description, payload) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)"
        )
        i = 0
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                await insert.fetch(
                    uuid.uuid4(),
                    f"{n:02d}{i:018d}",
                    "phone",
                    "pty_" + "0" * 40,
                    "Segunda via do boleto",
                    "Preciso da segunda via do boleto de pagamento deste mês.",
                    payload,
                )
                latencies.append(time.perf_counter() - started)
                i += 1
        finally:
            await conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "rows_per_s": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "concurrency": concurrency,
    }


async def kafka_round_trip(bootstrap: str, *, count: int) -> dict[str, Any]:
    """Produce `count` envelopes (idempotent, acks=all) and consume them; rate and latency."""
    topic = f"bench.ceiling.{uuid.uuid4().hex[:8]}"
    await ensure_topics(bootstrap, [TopicSpec(topic, 3)])
    value = encode(sample_event("atende.interaction.received.v1"))
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    producer = make_producer(bootstrap, client_id="bench-ceiling")
    await consumer.start()
    await producer.start()
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(3)])
        await consumer.seek_to_end()
        latencies: list[float] = []

        async def consume() -> None:
            while len(latencies) < count:
                batch = await consumer.getmany(timeout_ms=200)
                now_ms = time.time() * 1000
                for records in batch.values():
                    latencies.extend((now_ms - r.timestamp) / 1000 for r in records)

        consuming = asyncio.create_task(consume())
        started = time.perf_counter()
        acks = [await producer.send(topic, value=value, key=str(i).encode()) for i in range(count)]
        await asyncio.gather(*acks)
        produced = time.perf_counter() - started
        await asyncio.wait_for(consuming, timeout=120)
        total = time.perf_counter() - started
    finally:
        await producer.stop()
        await consumer.stop()
        await delete_topics(bootstrap, lambda name: name == topic)
    latencies.sort()
    return {
        "produce_per_s": count / produced,
        "round_trip_per_s": count / total,
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "messages": count,
    }
