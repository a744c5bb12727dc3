"""Watch Atende's topics from outside, as BI would: every record as it is fetched, and group lag.

One reading of the topics serves the bench and the fault suite (faults/observe.py builds its
event log on `TopicReader`, its lag on `GroupLag`):

- `TopicReader` reads every partition of some topics with a group-less consumer from the start
  and hands each record to `_note`; a broker away is waited out, as the services do.
- `Observer` notes, per event type, when each event was fetched (wall clock, comparable across
  processes of this machine), for the bench's latencies.
- `GroupLag` compares each service group's committed offsets with the ends of the topics it
  subscribes to (read from the members' join metadata).

Values are read as plain JSON, not validated: the services already did that, and the observer's
own CPU is part of what the machine pays for the benchmark.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

# The tools read groups and offsets that the services' shared Kafka module does not expose.
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberMetadata

from atende_events.kafka import AIOKafkaConsumer, ConsumerRecord, KafkaError, TopicPartition
from atende_events.topics import ALL_TOPICS
from bench.system import KAFKA_BOOTSTRAP


def short_type(event_type: str) -> str:
    """`atende.interaction.queued.v1` -> `interaction.queued`."""
    return ".".join(event_type.split(".")[1:3])


def envelope(raw: bytes | None) -> tuple[dict[str, Any], str] | None:
    """A record's CloudEvents document and short type, or None for a poison record."""
    try:
        document = json.loads(raw or b"")
        return document, short_type(str(document["type"]))
    except (ValueError, KeyError, TypeError, IndexError):
        return None  # the services dead-letter it; an observer ignores it


async def partitions_of(consumer: AIOKafkaConsumer, topic: str, within: float = 60) -> set[int]:
    """The partitions of a topic, waiting (up to `within` seconds) until its metadata is known."""
    async with asyncio.timeout(within):
        while True:
            found = consumer.partitions_for_topic(topic)
            if found:
                return set(found)
            await consumer._client.force_metadata_update()  # noqa: SLF001 - no public refresh
            await asyncio.sleep(0.2)


@dataclass
class TopicReader:
    """Every record of some topics from their start, handed to `_note` as it is fetched."""

    topic_names: list[str]
    bootstrap: str = KAFKA_BOOTSTRAP
    records: int = 0
    """Records fetched, redeliveries included."""
    _consumer: AIOKafkaConsumer | None = None
    _task: asyncio.Task[None] | None = None

    def _note(self, now: float, record: ConsumerRecord[bytes, bytes]) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=100,
            max_poll_records=2000,
        )
        await consumer.start()
        partitions = [
            TopicPartition(name, p)
            for name in self.topic_names
            for p in sorted(await partitions_of(consumer, name))
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning()
        self._consumer = consumer
        self._task = asyncio.create_task(self._run(), name=type(self).__name__)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            with contextlib.suppress(KafkaError, OSError):
                await self._consumer.stop()

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            try:
                batch = await self._consumer.getmany(timeout_ms=200)
            except KafkaError:
                await asyncio.sleep(0.5)  # a broker away: the consumer reconnects by itself
                continue
            now = time.time()
            for records in batch.values():
                for record in records:
                    self.records += 1
                    self._note(now, record)


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


class Observer(TopicReader):
    """Every event of a namespace by short type, in the order fetched; callbacks per type."""

    def __init__(self, namespace: str, topics: Iterable[str] = ALL_TOPICS) -> None:
        super().__init__([namespace + topic for topic in topics])
        self.seen: dict[str, list[Seen]] = {}
        self.first: dict[str, dict[str, float]] = {}
        """Per short type, when the first event about each subject was fetched."""
        self.callbacks: dict[str, list[Callback]] = {}

    def on(self, event_type: str, callback: Callback) -> None:
        """Call `callback` with every event of the short type as soon as it is fetched."""
        self.callbacks.setdefault(event_type, []).append(callback)

    def first_seen(self, event_type: str) -> dict[str, float]:
        """When the first event of the type about each subject was fetched."""
        return self.first.setdefault(event_type, {})

    def count(self, event_type: str) -> int:
        return len(self.seen.get(event_type, []))

    def _note(self, now: float, record: ConsumerRecord[bytes, bytes]) -> None:
        read = envelope(record.value)
        if read is None:
            return
        document, kind = read
        seen = Seen(
            now,
            str(document.get("subject")),
            document.get("data") or {},
            record.topic,
            record.partition,
            record.offset,
        )
        self.seen.setdefault(kind, []).append(seen)
        self.first.setdefault(kind, {}).setdefault(seen.subject, now)
        for callback in self.callbacks.get(kind, ()):
            callback(seen)


@dataclass
class LagSample:
    """Consumer lag of every group at one moment, and the topics' end offsets summed per group."""

    at: float
    lag: dict[str, int]
    produced: dict[str, int]


@dataclass
class GroupLag:
    """The lag (end offset - committed offset, summed over partitions) of service groups."""

    groups: dict[str, str]
    """Service name -> consumer group."""
    bootstrap: str = KAFKA_BOOTSTRAP
    subscriptions: dict[str, list[str]] = field(default_factory=dict)
    """Service name -> the topics its group subscribes to, once its members have joined."""
    _admin: AIOKafkaAdminClient | None = None
    _ends: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        self._admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="atende-lag")
        await self._admin.start()
        self._ends = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None)
        await self._ends.start()

    async def stop(self) -> None:
        with contextlib.suppress(KafkaError, OSError):
            if self._admin is not None:
                await self._admin.close()
            if self._ends is not None:
                await self._ends.stop()

    async def discover(self, within: float = 30) -> bool:
        """Read which topics each group subscribes to; tell whether every group has told."""
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
            if len(self.subscriptions) == len(self.groups):
                return True
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.5)

    async def sample(self) -> LagSample:
        """Lag per service group now; a partition without a commit counts from offset 0."""
        assert self._admin is not None and self._ends is not None
        partitions = {
            service: [
                TopicPartition(topic, p)
                for topic in topics
                for p in sorted(await partitions_of(self._ends, topic))
            ]
            for service, topics in self.subscriptions.items()
        }
        every = sorted({tp for tps in partitions.values() for tp in tps})
        ends = await self._ends.end_offsets(every) if every else {}
        lag: dict[str, int] = {}
        produced: dict[str, int] = {}
        for service, tps in partitions.items():
            committed = await self.committed(service)
            lag[service] = sum(max(0, ends[tp] - committed.get(tp, 0)) for tp in tps)
            produced[service] = sum(ends[tp] for tp in tps)
        return LagSample(time.time(), lag, produced)

    async def sample_if_known(self) -> dict[str, int] | None:
        """Lag per service group now, or None while Kafka or a group cannot tell (faults)."""
        try:
            async with asyncio.timeout(10):
                if not await self.discover(within=0):
                    return None
                return (await self.sample()).lag
        except (KafkaError, OSError, TimeoutError, KeyError):
            return None

    async def committed(self, service: str) -> dict[TopicPartition, int]:
        """The committed offset of each partition the group has committed."""
        assert self._admin is not None
        offsets = await self._admin.list_consumer_group_offsets(self.groups[service])
        return {tp: meta.offset for tp, meta in offsets.items()}
