"""Watch the private system from outside, as BI would: every event once, and each group's lag.

`EventLog` reads every partition of the contract's topics (and their dead-letter topics) with a
group-less consumer and keeps each event once by its CloudEvents id, so that a redelivered or
republished record never counts as a second effect. `Lag` compares each service group's committed
offsets with the ends of the topics it subscribes to.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# The suite reads groups and offsets that the services' shared Kafka module does not expose.
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberMetadata

from atende_events.kafka import AIOKafkaConsumer, KafkaError, TopicPartition
from atende_events.topics import ALL_TOPICS, dlq_topic


@dataclass(frozen=True)
class Event:
    """One distinct event as fetched: its id, short type, subject, occurrence time and data."""

    id: str
    kind: str
    """`interaction.accepted` for `atende.interaction.accepted.v1`."""
    subject: str
    time: datetime | None
    data: dict[str, Any]
    fetched: float


def short_type(event_type: str) -> str:
    return ".".join(event_type.split(".")[1:3])


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    with contextlib.suppress(ValueError):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return None


Callback = Callable[[Event], None]


@dataclass
class EventLog:
    """Every distinct event of the contract's topics, by short type; dead letters counted."""

    bootstrap: str
    events: dict[str, Event] = field(default_factory=dict)
    by_kind: dict[str, list[Event]] = field(default_factory=dict)
    dead_letters: dict[str, int] = field(default_factory=dict)
    records: int = 0
    """Records fetched, redeliveries included."""
    contract_events: int = 0
    """Distinct events of the contract's types (not the relays' watermarks or heartbeats)."""
    callbacks: dict[str, list[Callback]] = field(default_factory=dict)
    _consumer: AIOKafkaConsumer | None = None
    _task: asyncio.Task[None] | None = None

    def on(self, kind: str, callback: Callback) -> None:
        self.callbacks.setdefault(kind, []).append(callback)

    def of(self, kind: str) -> list[Event]:
        return self.by_kind.get(kind, [])

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=200,
            max_poll_records=2000,
        )
        await consumer.start()
        names = [*ALL_TOPICS, *(dlq_topic(topic) for topic in ALL_TOPICS)]
        partitions = [
            TopicPartition(name, p)
            for name in names
            for p in sorted(await partitions_of(consumer, name))
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning()
        self._consumer = consumer
        self._task = asyncio.create_task(self._run(), name="faults-event-log")

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
                batch = await self._consumer.getmany(timeout_ms=250)
            except KafkaError:
                await asyncio.sleep(0.5)  # a broker away: the consumer reconnects by itself
                continue
            now = time.time()
            for records in batch.values():
                for record in records:
                    self.records += 1
                    if record.topic.endswith(".dlq"):
                        original = record.topic.removesuffix(".dlq")
                        self.dead_letters[original] = self.dead_letters.get(original, 0) + 1
                        continue
                    self._note(now, record.value)

    def _note(self, now: float, raw: bytes | None) -> None:
        try:
            document = json.loads(raw or b"")
            event_id = str(document["id"])
            kind = short_type(str(document["type"]))
        except (ValueError, KeyError, TypeError, IndexError):
            return  # a poison record: the services dead-letter it
        if event_id in self.events:
            return
        data = document.get("data")
        event = Event(
            event_id,
            kind,
            str(document.get("subject")),
            parse_time(document.get("time")),
            data if isinstance(data, dict) else {},
            now,
        )
        self.events[event_id] = event
        self.by_kind.setdefault(kind, []).append(event)
        if kind.split(".")[0] in ("interaction", "agent", "sla", "survey", "followup"):
            self.contract_events += 1
        for callback in self.callbacks.get(kind, ()):
            callback(event)


async def partitions_of(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    async with asyncio.timeout(60):
        while True:
            await consumer._client.force_metadata_update()  # noqa: SLF001 - no public refresh
            found = consumer.partitions_for_topic(topic)
            if found:
                return set(found)
            await asyncio.sleep(0.3)


@dataclass
class Lag:
    """Lag (end offset - committed offset, summed over partitions) of each service's group."""

    bootstrap: str
    groups: dict[str, str]
    """Service -> consumer group."""
    subscriptions: dict[str, list[str]] = field(default_factory=dict)
    _admin: AIOKafkaAdminClient | None = None
    _ends: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        self._admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="faults-lag")
        await self._admin.start()
        self._ends = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None)
        await self._ends.start()

    async def stop(self) -> None:
        with contextlib.suppress(KafkaError, OSError):
            if self._admin is not None:
                await self._admin.close()
            if self._ends is not None:
                await self._ends.stop()

    async def _discover(self) -> None:
        assert self._admin is not None
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

    async def sample(self) -> dict[str, int] | None:
        """Lag per service group now, or None while Kafka or a group cannot tell."""
        assert self._admin is not None and self._ends is not None
        try:
            async with asyncio.timeout(10):
                await self._discover()
                if len(self.subscriptions) < len(self.groups):
                    return None
                lag: dict[str, int] = {}
                for service, topics in self.subscriptions.items():
                    tps = [
                        TopicPartition(topic, p)
                        for topic in topics
                        for p in sorted(self._ends.partitions_for_topic(topic) or ())
                    ]
                    if not tps:
                        await self._ends._client.force_metadata_update()  # noqa: SLF001
                        return None
                    ends = await self._ends.end_offsets(tps)
                    committed = await self._admin.list_consumer_group_offsets(self.groups[service])
                    lag[service] = sum(
                        max(0, ends[tp] - (committed[tp].offset if tp in committed else 0))
                        for tp in tps
                    )
                return lag
        except (KafkaError, OSError, TimeoutError, KeyError):
            return None
