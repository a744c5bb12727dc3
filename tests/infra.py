"""Reach the real Kafka and PostgreSQL that `make infra-up` started; make isolated parts of them.

Every integration test works in its own scratch database and its own random topics, so tests
never see each other's data nor that of a running `make run`.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
from alembic import command
from alembic.config import Config

from atende_events.kafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition, ensure_topics
from atende_events.topics import TopicSpec, dlq_topic, topic_specs

ROOT = Path(__file__).resolve().parent.parent
KAFKA_BOOTSTRAP = os.environ.get("ATENDE_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
PG_HOST = os.environ.get("ATENDE_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("ATENDE_PG_PORT", "15432"))
PG_USER = os.environ.get("ATENDE_PG_USER", "atende")
PG_PASSWORD = os.environ.get("ATENDE_PG_PASSWORD", "atende")

T = TypeVar("T")

# Every topic name prefix this test session created; `conftest` deletes those topics at the end,
# since each left-over topic slows every later broker start.
SCRATCH_PREFIXES: set[str] = set()


def database_url(name: str) -> str:
    """SQLAlchemy URL of a database on the test cluster."""
    return f"postgresql+asyncpg://{PG_USER}:{PG_PASSWORD}@{PG_HOST}:{PG_PORT}/{name}"


async def _admin_connection() -> asyncpg.Connection:
    return await asyncpg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, password=PG_PASSWORD, database="postgres"
    )


@asynccontextmanager
async def scratch_database(prefix: str) -> AsyncIterator[str]:
    """Create an empty database for the duration of the block; yield its SQLAlchemy URL."""
    name = f"test_{prefix}_{uuid.uuid4().hex[:10]}"
    admin = await _admin_connection()
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield database_url(name)
    finally:
        admin = await _admin_connection()
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def alembic_config(service: str, url: str) -> Config:
    """Alembic configuration of a service, pointed at the given database."""
    config = Config(str(ROOT / "services" / service / "alembic.ini"))
    config.attributes["url"] = url
    return config


async def migrate(service: str, url: str, revision: str = "head") -> None:
    """Upgrade the database to the revision with the service's own migrations."""
    await asyncio.to_thread(command.upgrade, alembic_config(service, url), revision)


async def fresh_namespace(partitions: int = 3) -> str:
    """Create every contract topic (and DLQ) under a new random prefix; return the prefix.

    A service built with `topic_namespace=<prefix>` publishes and consumes only there.
    """
    namespace = f"t{uuid.uuid4().hex[:10]}."
    SCRATCH_PREFIXES.add(namespace)
    await ensure_topics(KAFKA_BOOTSTRAP, topic_specs(partitions, namespace=namespace))
    return namespace


async def random_topic(partitions: int = 3, *, with_dlq: bool = True) -> str:
    """Create a fresh topic (and its DLQ) and return its name."""
    name = f"test.{uuid.uuid4().hex[:12]}"
    SCRATCH_PREFIXES.add(name)
    specs = [TopicSpec(name, partitions)]
    if with_dlq:
        specs.append(TopicSpec(dlq_topic(name), 1))
    await ensure_topics(KAFKA_BOOTSTRAP, specs)
    return name


async def eventually(
    probe: Callable[[], Any], *, within: float = 30, interval: float = 0.1, what: str = "condition"
) -> Any:
    """Poll an async probe until it returns something truthy; fail after the deadline."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = await probe()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}; last: {result!r}")
        await asyncio.sleep(interval)


async def read_topic(
    topic: str, *, at_least: int, within: float = 30
) -> list[ConsumerRecord[bytes, bytes]]:
    """Read every record of a topic from the beginning, waiting until there are at least N."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=KAFKA_BOOTSTRAP,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        partitions = await eventually(
            lambda: _partitions(consumer, topic), within=within, what=f"partitions of {topic}"
        )
        consumer.assign([TopicPartition(topic, p) for p in partitions])
        await consumer.seek_to_beginning()
        records: list[ConsumerRecord[bytes, bytes]] = []
        deadline = asyncio.get_running_loop().time() + within
        while len(records) < at_least and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for chunk in batch.values():
                records.extend(chunk)
        # Anything beyond the expected count (a duplicate) must show up too: drain a little more.
        batch = await consumer.getmany(timeout_ms=500)
        for chunk in batch.values():
            records.extend(chunk)
        return records
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int] | None:
    await consumer._client.force_metadata_update()
    partitions: set[int] | None = consumer.partitions_for_topic(topic)
    return partitions
