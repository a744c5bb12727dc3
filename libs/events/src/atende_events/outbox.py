"""Transactional outbox: events are rows written with the state change, then relayed to Kafka."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import Counter, Gauge
from sqlalchemy import delete, func, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from atende_events.db import OUTBOX_CHANNEL, outbox
from atende_events.envelope import Envelope, encode, key_of, new_event, source_of, topic_of
from atende_events.kafka import KafkaError, Publisher
from atende_events.watermarks import OutboxWatermark

log = logging.getLogger(__name__)

CONTENT_TYPE = b"application/cloudevents+json; charset=UTF-8"
_PURGE_EVERY = 60.0

# Built once: the relay runs them for every batch it publishes.
_PENDING = text(
    f"SELECT id, topic, key, payload, event_type FROM {outbox.name}"
    " WHERE published_at IS NULL ORDER BY id LIMIT :limit FOR UPDATE"
)
_MARK_PUBLISHED = text(
    f"UPDATE {outbox.name} SET published_at = now() WHERE id = ANY(CAST(:ids AS bigint[]))"
)
# The moment before which every event of this service is published: the oldest unpublished
# row, and the start of every transaction still open in this database (it may commit an event
# yet), less a margin for a clock read before its transaction began and for skew between hosts.
_LOW_WATERMARK = text(
    "SELECT least(clock_timestamp(),"
    f" (SELECT min(created_at) FROM {outbox.name} WHERE published_at IS NULL),"
    " (SELECT min(xact_start) FROM pg_stat_activity"
    " WHERE datname = current_database() AND pid <> pg_backend_pid()))"
    " - make_interval(secs => :margin)"
)
_WATERMARK_TIMEOUT = 5.0
"""Seconds a round of watermarks may take (a topic's metadata, the acknowledgements)."""
_WATERMARK_RETRY = 30.0
"""Seconds before watermarks are tried again after a round failed."""
_LEADER_CHECK_EVERY = 1.0
"""Seconds between checks that the lock connection (and so the leadership) is still alive."""

# Under the 1 MiB a Kafka producer sends and a broker takes by default (max.request.size,
# message.max.bytes), with room for key and headers. A row larger than that could never be
# published and would hold up every row behind it, so it is refused before it is written.
MAX_EVENT_BYTES = 1_000_000


class EventTooLarge(ValueError):
    """An event whose encoded size Kafka would refuse; the caller's transaction must not commit."""


OUTBOX_PUBLISHED = Counter(
    "atende_outbox_published_total", "Outbox events published to Kafka.", ["service"]
)
OUTBOX_FAILURES = Counter(
    "atende_outbox_publish_failures_total", "Outbox batches that failed to publish.", ["service"]
)
RELAY_ACTIVE = Gauge(
    "atende_outbox_relay_active", "1 while this instance holds the relay lock.", ["service"]
)


async def add_event(session: AsyncSession, event: Envelope[Any], *, key: str | None = None) -> None:
    """Write an event to the outbox in the caller's transaction; it is published after commit.

    The record key defaults to the interaction id (the agent id for agent events), so one
    interaction's events land on one partition and stay in order. An event too large for
    Kafka raises `EventTooLarge` before anything is written.
    """
    await add_events(session, [event], keys=[key])


async def add_events(
    session: AsyncSession,
    events: Sequence[Envelope[Any]],
    *,
    keys: Sequence[str | None] | None = None,
) -> None:
    """Write events to the outbox in one statement, published in this order; see `add_event`."""
    if not events:
        return
    payloads = [_payload_of(event) for event in events]
    chosen = keys if keys is not None else [None] * len(events)
    await session.execute(
        _ADD_EVENTS,
        {
            "event_ids": [event.id for event in events],
            "topics": [topic_of(event) for event in events],
            "keys": [
                key if key is not None else key_of(event)
                for event, key in zip(events, chosen, strict=True)
            ],
            "event_types": [event.type for event in events],
            "payloads": payloads,
        },
    )


def _payload_of(event: Envelope[Any]) -> bytes:
    payload = encode(event)
    if len(payload) > MAX_EVENT_BYTES:
        raise EventTooLarge(
            f"{event.type} {event.id} encodes to {len(payload)} bytes; "
            f"Kafka takes at most {MAX_EVENT_BYTES}"
        )
    return payload


# One round trip for the rows, in the order of the arrays (their ids are the relay's order), and
# the notification that wakes the relay at once instead of a poll; PostgreSQL delivers it at
# commit, drops it on rollback, and sends one per transaction.
_ADD_EVENTS = text(
    f"INSERT INTO {outbox.name} (event_id, topic, key, event_type, payload)"
    " SELECT event_id, topic, key, event_type, payload FROM unnest("
    " CAST(:event_ids AS uuid[]), CAST(:topics AS text[]), CAST(:keys AS text[]),"
    " CAST(:event_types AS text[]), CAST(:payloads AS bytea[])"
    " ) WITH ORDINALITY AS e(event_id, topic, key, event_type, payload, position)"
    " ORDER BY position"
    f" RETURNING pg_notify('{OUTBOX_CHANNEL}', '')"
)


def _as_kafka_failure(exc: BaseException) -> KafkaError | TimeoutError:
    if isinstance(exc, KafkaError | TimeoutError):
        return exc
    raise exc


def relay_lock_key(service: str) -> int:
    """Derive the advisory-lock key that elects a service's single active relay."""
    digest = hashlib.sha256(f"atende.outbox.relay:{service}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class OutboxRelay:
    """Publish pending outbox rows in id order; one active instance per service.

    Every instance of a service runs a relay, but only the one holding the service's PostgreSQL
    advisory lock publishes, so the order per key holds. The lock lives on a dedicated connection
    outside the pool: when its process dies the connection closes, the lock is freed and a
    standby takes over at its next attempt. A leader checks that connection once a second, and
    batches lock their rows with a plain FOR UPDATE, so even a leader that lost its lock in
    the middle of a batch makes the new one wait behind it instead of publishing ahead of it.
    Kafka being down only delays publication: the rows stay pending and the batch is retried.
    Woken by a commit, the relay lingers `linger` seconds so that the commits right behind it
    go out in the same batch. Every `watermark_every` seconds it also sends an `OutboxWatermark`
    to each partition of `watermark_topics` (see `atende_events.watermarks`).
    """

    def __init__(
        self,
        *,
        service: str,
        engine: AsyncEngine,
        publisher: Publisher,
        namespace: str = "",
        batch_size: int = 500,
        linger: float = 0.0,
        idle_poll: float = 1.0,
        standby_poll: float = 2.0,
        max_backoff: float = 5.0,
        retention: timedelta = timedelta(days=1),
        watermark_topics: Sequence[str] = (),
        watermark_every: float = 1.0,
        watermark_margin: float = 2.0,
    ) -> None:
        self._service = service
        # No pool: a connection holding the session lock must never be handed to other work.
        self._lock_engine = create_async_engine(engine.url, poolclass=NullPool)
        self._sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
        self._publisher = publisher
        self._namespace = namespace
        self._batch_size = batch_size
        self._linger = linger
        self._idle_poll = idle_poll
        self._standby_poll = standby_poll
        self._max_backoff = max_backoff
        self._retention = retention
        self._watermark_topics = tuple(watermark_topics)
        self._watermark_every = watermark_every
        self._watermark_margin = watermark_margin
        self._lock_key = relay_lock_key(service)
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.active = False

    @property
    def running(self) -> bool:
        """Tell whether the background task is alive (for readiness)."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Run the relay in the background."""
        self._task = asyncio.create_task(self.run(), name=f"outbox-relay-{self._service}")

    async def stop(self) -> None:
        """Finish the batch under way and stop."""
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            await self._task
        await self._lock_engine.dispose()

    async def run(self) -> None:
        """Take the relay lock when free and publish until stopped."""
        backoff = 0.1
        while not self._stopping.is_set():
            try:
                async with self._lock_engine.connect() as conn:
                    lock_conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                    if await self._try_lock(lock_conn):
                        await self._publish_while_leader(lock_conn)
                        backoff = 0.1
                        continue
                await self._sleep(self._standby_poll)
            except (SQLAlchemyError, OSError) as exc:
                log.warning("outbox relay of %s lost the database: %s", self._service, exc)
                await self._sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)
            except Exception:
                log.exception("outbox relay of %s failed; starting over", self._service)
                await self._sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)
            finally:
                # Closing the lock connection (no pool) frees the lock for a standby.
                self._set_active(False)

    async def _try_lock(self, lock_conn: AsyncConnection) -> bool:
        got = await lock_conn.scalar(
            text("SELECT pg_try_advisory_lock(:key)"), {"key": self._lock_key}
        )
        return bool(got)

    async def _publish_while_leader(self, lock_conn: AsyncConnection) -> None:
        self._set_active(True)
        log.info("outbox relay of %s is active", self._service)
        raw = await lock_conn.get_raw_connection()
        listener = raw.driver_connection
        assert listener is not None, "an open connection has its asyncpg connection"
        await listener.add_listener(OUTBOX_CHANNEL, self._on_notify)
        backoff = 0.1
        loop = asyncio.get_running_loop()
        next_purge = next_check = next_watermark = loop.time()
        try:
            while not self._stopping.is_set():
                self._wake.clear()
                if loop.time() >= next_check:
                    # Losing the lock connection frees the lock for a standby: stop leading at
                    # once (within a second; a busy relay would otherwise pay a round trip a batch).
                    await lock_conn.scalar(text("SELECT 1"))
                    next_check = loop.time() + _LEADER_CHECK_EVERY
                try:
                    published = await self._publish_batch()
                except (KafkaError, TimeoutError) as exc:
                    OUTBOX_FAILURES.labels(self._service).inc()
                    log.warning("outbox relay of %s cannot publish yet: %r", self._service, exc)
                    await self._sleep(backoff)
                    backoff = min(backoff * 2, self._max_backoff)
                    continue
                backoff = 0.1
                if self._watermark_topics and loop.time() >= next_watermark:
                    sent = await self._publish_watermarks()
                    # A topic Kafka does not know (yet) must not slow the events down: the
                    # watermarks wait longer, and breaches with them, never the events.
                    wait = self._watermark_every if sent else _WATERMARK_RETRY
                    next_watermark = loop.time() + wait
                if published == self._batch_size:
                    continue
                if await self._wait_for_work():
                    # Commits come one after another under load: publishing each as it comes
                    # would pay a transaction for every one or two events.
                    await self._sleep(self._linger)
                if loop.time() >= next_purge:
                    await self._purge_published()
                    next_purge = loop.time() + _PURGE_EVERY
        finally:
            with contextlib.suppress(Exception):
                await listener.remove_listener(OUTBOX_CHANNEL, self._on_notify)

    async def _publish_batch(self) -> int:
        async with self._sessionmaker.begin() as session:
            rows = (await session.execute(_PENDING, {"limit": self._batch_size})).all()
            if not rows:
                return 0
            delivered, failure = await self._send(rows)
            if delivered:
                await session.execute(
                    _MARK_PUBLISHED, {"ids": [row.id for row in rows[:delivered]]}
                )
        OUTBOX_PUBLISHED.labels(self._service).inc(delivered)
        if failure is not None:
            raise failure
        return delivered

    async def _send(self, rows: Sequence[Any]) -> tuple[int, KafkaError | TimeoutError | None]:
        """Send rows in order; return how many leading rows Kafka acknowledged, and the failure.

        Every record handed to the producer is waited for until it is acknowledged or has
        failed (the producer bounds that by its request timeout): abandoning one would let a
        producer being reset deliver it later, after the row was sent again.
        """
        acks: list[asyncio.Future[Any]] = []
        failure: KafkaError | TimeoutError | None = None
        try:
            producer = await self._publisher.producer()
            for row in rows:
                acks.append(
                    await producer.send(
                        self._namespace + row.topic,
                        value=row.payload,
                        key=row.key.encode() if row.key is not None else None,
                        headers=[
                            ("content-type", CONTENT_TYPE),
                            ("ce_type", row.event_type.encode()),
                        ],
                    )
                )
        except (KafkaError, TimeoutError) as exc:
            failure = exc
        outcomes = await asyncio.gather(*acks, return_exceptions=True)
        delivered = 0
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                failure = failure or _as_kafka_failure(outcome)
                break
            delivered += 1
        if failure is not None:
            await self._publisher.reset()
        return delivered, failure

    async def _publish_watermarks(self) -> bool:
        """Send this service's low watermark to every partition of the marked topics.

        The moment is taken between batches, so every row committed before it is already
        acknowledged by Kafka; idempotent, in-order delivery puts the watermark behind them.
        Tell whether they all went out.
        """
        try:
            async with asyncio.timeout(_WATERMARK_TIMEOUT):
                await self._send_watermarks()
        except (KafkaError, TimeoutError) as exc:
            log.warning("outbox relay of %s cannot send watermarks yet: %r", self._service, exc)
            return False
        return True

    async def _send_watermarks(self) -> None:
        async with self._sessionmaker() as session:
            low = await session.scalar(_LOW_WATERMARK, {"margin": self._watermark_margin})
        now = datetime.now(UTC)
        producer = await self._publisher.producer()
        acks: list[asyncio.Future[Any]] = []
        try:
            for topic in self._watermark_topics:
                name = self._namespace + topic
                partitions = sorted(await producer.partitions_for(name))
                for partition in partitions:
                    mark = OutboxWatermark(
                        occurred_at=now,
                        producer=self._service,
                        low_watermark=low,
                        marked_topic=topic,
                        partition=partition,
                        partitions=len(partitions),
                    )
                    event = new_event(mark, source=source_of(self._service), time=now)
                    acks.append(
                        await producer.send(
                            name,
                            value=encode(event),
                            key=self._service.encode(),
                            partition=partition,
                            headers=[
                                ("content-type", CONTENT_TYPE),
                                ("ce_type", event.type.encode()),
                            ],
                        )
                    )
        finally:
            outcomes = await asyncio.gather(*acks, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                await self._publisher.reset()
                raise _as_kafka_failure(outcome)

    async def _purge_published(self) -> None:
        async with self._sessionmaker.begin() as session:
            await session.execute(
                delete(outbox).where(
                    outbox.c.published_at < func.now() - self._retention,
                )
            )

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _wait_for_work(self) -> bool:
        """Wait for a commit's notification, at most `idle_poll`; tell whether one came."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._idle_poll):
                await self._wake.wait()
        return self._wake.is_set()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._stopping.wait()

    def _set_active(self, active: bool) -> None:
        self.active = active
        RELAY_ACTIVE.labels(self._service).set(1 if active else 0)
