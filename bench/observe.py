"""Watch a bench namespace from outside, as BI would: when each event shows up, and consumer lag.

`Observer` reads every partition of the namespace's topics with a group-less consumer and notes,
per event type, when each event was fetched (wall clock, comparable across processes of this
machine). `LagProbe` compares each service group's committed offsets with the topics' end.
The values are read as plain JSON, not validated: the services already did that, and the
observer's own CPU is part of what the machine pays for the benchmark.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

# The bench reads groups and offsets that the services' shared Kafka module does not expose.
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberMetadata

from atende_events.kafka import AIOKafkaConsumer, TopicPartition
from atende_events.topics import ALL_TOPICS
from bench.system import KAFKA_BOOTSTRAP


@dataclass(frozen=True)
class Seen:
    """One event as the observer fetched it."""

    at: float
    """Wall-clock second the observer had it in hand."""
    subject: str
    data: dict[str, Any]
    topic: str
    partition: int
    offset: int


Callback = Callable[[Seen], None]


def short_type(event_type: str) -> str:
    """`atende.interaction.queued.v1` -> `interaction.queued`."""
    return ".".join(event_type.split(".")[1:3])


@dataclass
class Observer:
    """Every event of a namespace by short type, in the order fetched; callbacks per type."""

    namespace: str
    topics: Iterable[str] = ALL_TOPICS
    seen: dict[str, list[Seen]] = field(default_factory=dict)
    first: dict[str, dict[str, float]] = field(default_factory=dict)
    """Per short type, when the first event about each subject was fetched."""
    callbacks: dict[str, list[Callback]] = field(default_factory=dict)
    _consumer: AIOKafkaConsumer | None = None
    _task: asyncio.Task[None] | None = None

    def on(self, event_type: str, callback: Callback) -> None:
        """Call `callback` with every event of the short type as soon as it is fetched."""
        self.callbacks.setdefault(event_type, []).append(callback)

    def first_seen(self, event_type: str) -> dict[str, float]:
        """When the first event of the type about each subject was fetched."""
        return self.first.setdefault(event_type, {})

    def count(self, event_type: str) -> int:
        return len(self.seen.get(event_type, []))

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=KAFKA_BOOTSTRAP,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=100,
            max_poll_records=2000,
        )
        await consumer.start()
        names = [self.namespace + topic for topic in self.topics]
        partitions = [
            TopicPartition(name, p)
            for name in names
            for p in sorted(
                consumer.partitions_for_topic(name) or await _partitions(consumer, name)
            )
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning()
        self._consumer = consumer
        self._task = asyncio.create_task(self._run(), name="bench-observer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            batch = await self._consumer.getmany(timeout_ms=200)
            now = time.time()
            for records in batch.values():
                for record in records:
                    self._note(now, record.topic, record.partition, record.offset, record.value)

    def _note(self, now: float, topic: str, partition: int, offset: int, raw: bytes | None) -> None:
        try:
            document = json.loads(raw or b"")
            kind = short_type(document["type"])
        except (ValueError, KeyError, TypeError, IndexError):
            return  # a poison record: the services dead-letter it, the observer ignores it
        seen = Seen(
            now, str(document.get("subject")), document.get("data") or {}, topic, partition, offset
        )
        self.seen.setdefault(kind, []).append(seen)
        self.first.setdefault(kind, {}).setdefault(seen.subject, now)
        for callback in self.callbacks.get(kind, ()):
            callback(seen)


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    async with asyncio.timeout(30):
        while True:
            await consumer._client.force_metadata_update()  # noqa: SLF001 - no public refresh
            found = consumer.partitions_for_topic(topic)
            if found:
                return set(found)
            await asyncio.sleep(0.2)


@dataclass
class LagSample:
    """Consumer lag of every group at one moment, and the topics' end offsets summed per group."""

    at: float
    lag: dict[str, int]
    produced: dict[str, int]


@dataclass
class LagProbe:
    """Sample the lag (end offset - committed offset, summed over partitions) of service groups."""

    groups: dict[str, str]
    """Service name -> consumer group."""
    namespace: str
    subscriptions: dict[str, list[str]] = field(default_factory=dict)
    _admin: AIOKafkaAdminClient | None = None
    _ends: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        self._admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA_BOOTSTRAP, client_id="bench-lag")
        await self._admin.start()
        self._ends = AIOKafkaConsumer(bootstrap_servers=KAFKA_BOOTSTRAP, group_id=None)
        await self._ends.start()
        await self.discover()

    async def stop(self) -> None:
        if self._admin is not None:
            await self._admin.close()
        if self._ends is not None:
            await self._ends.stop()

    async def discover(self, within: float = 30) -> None:
        """Read which topics each group subscribes to, from the members' join metadata."""
        assert self._admin is not None
        deadline = time.monotonic() + within
        while True:
            for service, group in self.groups.items():
                if service in self.subscriptions:
                    continue
                for description in await self._admin.describe_consumer_groups([group]):
                    for described in description.groups:
                        for member in described[5]:
                            metadata = ConsumerProtocolMemberMetadata.decode(member[3])
                            topics = sorted(set(metadata.subscription))
                            if topics:
                                self.subscriptions[service] = topics
            if len(self.subscriptions) == len(self.groups) or time.monotonic() > deadline:
                return
            await asyncio.sleep(0.5)

    async def sample(self) -> LagSample:
        """Lag per service group now; a partition without a commit counts from offset 0."""
        assert self._admin is not None and self._ends is not None
        partitions = {
            service: [
                TopicPartition(topic, p)
                for topic in topics
                for p in sorted(
                    self._ends.partitions_for_topic(topic) or await _partitions(self._ends, topic)
                )
            ]
            for service, topics in self.subscriptions.items()
        }
        every = sorted({tp for tps in partitions.values() for tp in tps})
        ends = await self._ends.end_offsets(every) if every else {}
        lag: dict[str, int] = {}
        produced: dict[str, int] = {}
        for service, tps in partitions.items():
            committed = await self._admin.list_consumer_group_offsets(self.groups[service])
            lag[service] = sum(
                max(0, ends[tp] - (committed[tp].offset if tp in committed else 0)) for tp in tps
            )
            produced[service] = sum(ends[tp] for tp in tps)
        return LagSample(time.time(), lag, produced)

    async def committed(self, service: str) -> dict[TopicPartition, int]:
        """The committed offset of each partition the group has committed."""
        assert self._admin is not None
        offsets = await self._admin.list_consumer_group_offsets(self.groups[service])
        return {tp: meta.offset for tp, meta in offsets.items()}
