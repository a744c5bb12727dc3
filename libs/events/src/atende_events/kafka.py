"""Every aiokafka import of Atende lives here: producers, consumers and topic creation."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import CommitFailedError, KafkaError, KafkaTimeoutError
from aiokafka.structs import ConsumerRecord

from atende_events.topics import TopicSpec

__all__ = [
    "AIOKafkaConsumer",
    "AIOKafkaProducer",
    "CommitFailedError",
    "ConsumerRecord",
    "KafkaError",
    "KafkaTimeoutError",
    "TopicPartition",
    "delete_topics",
    "ensure_topics",
    "kafka_reachable",
    "make_consumer",
    "make_producer",
]

log = logging.getLogger(__name__)


def make_producer(
    bootstrap_servers: str, *, client_id: str, linger_ms: int = 5
) -> AIOKafkaProducer:
    """Create an idempotent producer that waits for every in-sync replica (acks=all)."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=linger_ms,
        request_timeout_ms=15_000,
        retry_backoff_ms=200,
    )


PartitionsCallback = Callable[[set[TopicPartition]], Awaitable[None]]


class _CommitOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    """Commit what was processed before a rebalance takes partitions away."""

    def __init__(self, on_revoke: PartitionsCallback, on_assign: PartitionsCallback) -> None:
        self._on_revoke = on_revoke
        self._on_assign = on_assign

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._on_revoke(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("partitions assigned: %s", sorted(f"{tp.topic}:{tp.partition}" for tp in assigned))
        await self._on_assign(set(assigned))


def make_consumer(
    bootstrap_servers: str,
    *,
    group_id: str,
    client_id: str,
    max_poll_records: int = 200,
) -> AIOKafkaConsumer:
    """Create a consumer that never commits by itself and starts new groups at the beginning.

    Values stay bytes: decoding in a deserializer would make a poison record re-read forever.
    """
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=group_id,
        client_id=client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=max_poll_records,
        isolation_level="read_committed",
    )


def subscribe(
    consumer: AIOKafkaConsumer,
    topics: Sequence[str],
    on_revoke: PartitionsCallback,
    on_assign: PartitionsCallback,
) -> None:
    """Subscribe to the topics, committing processed offsets before partitions are revoked."""
    consumer.subscribe(topics=list(topics), listener=_CommitOnRevoke(on_revoke, on_assign))


async def ensure_topics(bootstrap_servers: str, specs: Iterable[TopicSpec]) -> list[str]:
    """Create the topics that do not exist yet; return the names created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="atende-topics")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [spec for spec in specs if spec.name not in existing]
        if missing:
            await admin.create_topics(
                [
                    NewTopic(
                        name=spec.name,
                        num_partitions=spec.partitions,
                        replication_factor=spec.replication_factor,
                        topic_configs=spec.configs(),
                    )
                    for spec in missing
                ]
            )
            await _wait_for_topics(admin, {spec.name for spec in missing})
        return [spec.name for spec in missing]
    finally:
        await admin.close()


async def delete_topics(
    bootstrap_servers: str, select: Callable[[str], bool], *, chunk: int = 200
) -> list[str]:
    """Delete every existing topic whose name `select` accepts; return the names deleted."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="atende-topics")
    await admin.start()
    try:
        doomed = sorted(name for name in await admin.list_topics() if select(name))
        for start in range(0, len(doomed), chunk):
            await admin.delete_topics(doomed[start : start + chunk], timeout_ms=60_000)
        return doomed
    finally:
        await admin.close()


async def _wait_for_topics(admin: AIOKafkaAdminClient, names: set[str]) -> None:
    # Creation returns before every broker's metadata has the topics: poll until they show.
    async with asyncio.timeout(30):
        while not names <= set(await admin.list_topics()):  # noqa: ASYNC110
            await asyncio.sleep(0.1)


async def kafka_reachable(producer: AIOKafkaProducer, within: float = 2.0) -> bool:
    """Tell whether the producer can reach the cluster now (a metadata round trip)."""
    try:
        async with asyncio.timeout(within):
            return bool(await producer.client.force_metadata_update())
    except (TimeoutError, KafkaError):
        return False


class Publisher:
    """One idempotent producer for a service, started on first use and replaced after a failure.

    A service must start and keep accepting work while Kafka is down, so nothing may assume the
    producer is connected: callers ask for it when they need it and call `reset` when it fails.
    """

    def __init__(self, bootstrap_servers: str, *, client_id: str) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._client_id = client_id
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def producer(self) -> AIOKafkaProducer:
        """Return a started producer, starting one when there is none (may raise KafkaError)."""
        async with self._lock:
            if self._producer is None:
                producer = make_producer(self._bootstrap_servers, client_id=self._client_id)
                try:
                    await producer.start()
                except BaseException:
                    await producer.stop()
                    raise
                self._producer = producer
            return self._producer

    async def send_and_wait(
        self,
        topic: str,
        value: bytes,
        *,
        key: bytes | None,
        headers: Sequence[tuple[str, bytes]] = (),
        within: float = 30,
    ) -> None:
        """Publish one record and wait for its acknowledgement; reset the producer on failure."""
        try:
            async with asyncio.timeout(within):
                producer = await self.producer()
                await producer.send_and_wait(topic, value=value, key=key, headers=list(headers))
        except (KafkaError, TimeoutError):
            await self.reset()
            raise

    async def reachable(self) -> bool:
        """Tell whether Kafka answers now, without raising."""
        try:
            async with asyncio.timeout(3):
                producer = await self.producer()
        except (KafkaError, TimeoutError, OSError):
            return False
        return await kafka_reachable(producer)

    async def reset(self) -> None:
        """Drop the current producer, so the next use starts a fresh one."""
        async with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            try:
                async with asyncio.timeout(10):
                    await producer.stop()
            except Exception:  # a broken producer may fail to stop; it is gone anyway
                log.debug("stopping a failed producer raised", exc_info=True)

    async def close(self) -> None:
        """Flush and stop the producer."""
        await self.reset()
