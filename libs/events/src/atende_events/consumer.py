"""Consumer runner: the inbox claim and the handler's change commit together, then the offset."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from prometheus_client import Counter, Histogram
from sqlalchemy import literal, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atende_events.db import inbox, is_transient
from atende_events.envelope import DecodeError, Envelope, EventData, UnknownEventType, decode
from atende_events.kafka import (
    AIOKafkaConsumer,
    CommitFailedError,
    ConsumerRecord,
    KafkaError,
    Publisher,
    TopicPartition,
    make_consumer,
    subscribe,
)
from atende_events.redact import describe_error
from atende_events.registry import REGISTRY
from atende_events.topics import dlq_topic

log = logging.getLogger(__name__)

Handler = Callable[[Envelope[Any], AsyncSession], Awaitable[None]]


@dataclass(frozen=True)
class Batched:
    """A handler that takes a run of consecutive new events of its type in one call.

    It writes them set-based (one statement for many rows) instead of once per event; it must
    leave the same state as handling them one by one in the order given.
    """

    handle: Callable[[Sequence[Envelope[Any]], AsyncSession], Awaitable[None]]
    claims: bool = True
    """False for events that change nothing when handled twice (a watermark keeps the highest):
    they are not claimed in the inbox, which would otherwise keep a row for each."""


EVENTS_HANDLED = Counter(
    "atende_events_consumed_total",
    "Records taken from Kafka, by outcome (handled, duplicate, ignored, dead_lettered).",
    ["consumer", "outcome"],
)
HANDLER_SECONDS = Histogram(
    "atende_event_handler_seconds",
    "Time to handle one event, its share of the batch transaction included.",
    ["consumer"],
)

CE_TYPE_HEADER = "ce_type"


_CLAIM_MANY = text(
    f"INSERT INTO {inbox.name} (consumer, event_id, event_type)"
    " SELECT :consumer, id, type"
    " FROM unnest(CAST(:ids AS uuid[]), CAST(:types AS text[])) AS e(id, type)"
    " ON CONFLICT DO NOTHING RETURNING event_id"
)


async def claim_many(
    session: AsyncSession, *, consumer: str, events: Sequence[Envelope[Any]]
) -> set[UUID]:
    """Record many event ids as processed in one statement; return the ids not processed before."""
    claimed = await session.scalars(
        _CLAIM_MANY,
        {
            "consumer": consumer,
            "ids": [event.id for event in events],
            "types": [event.type for event in events],
        },
    )
    return set(claimed)


async def claim(session: AsyncSession, *, consumer: str, event: Envelope[Any]) -> bool:
    """Record the event id as processed by this consumer; False when it already was."""
    return event.id in await claim_many(session, consumer=consumer, events=[event])


@dataclass(frozen=True)
class _Work:
    """A record with an event this consumer handles."""

    tp: TopicPartition
    record: ConsumerRecord[Any, Any]
    event: Envelope[Any]
    handler: Handler | Batched


class _BatchFailed(Exception):
    """A batch transaction failed at items `at` to `at + width` (the handler call that raised).

    `at` is 0 and `width` 1 when the claim or the commit failed; `width` is above 1 when a
    `Batched` handler raised on a run of events, any of which may be the cause.
    """

    def __init__(self, at: int, width: int, error: Exception) -> None:
        super().__init__(str(error))
        self.at = at
        self.width = width
        self.error = error


def _runs(work: Sequence[_Work]) -> list[list[_Work]]:
    """Split the work into runs of consecutive items with the same handler."""
    runs: list[list[_Work]] = []
    for item in work:
        if runs and runs[-1][-1].handler is item.handler:
            runs[-1].append(item)
        else:
            runs.append([item])
    return runs


def _claims(item: _Work) -> bool:
    return not isinstance(item.handler, Batched) or item.handler.claims


async def was_processed(session: AsyncSession, *, consumer: str, event_id: Any) -> bool:
    """Tell whether the consumer has processed the event (for tests and operators)."""
    found = await session.scalar(
        select(literal(1)).where(inbox.c.consumer == consumer, inbox.c.event_id == event_id)
    )
    return found is not None


class ConsumerRunner:
    """Consume topics in a group and hand each event to its handler exactly once in effect.

    Records come in batches (one poll). A record whose event type has no handler here is skipped
    (known from its `ce_type` header, without decoding it); one that cannot be decoded goes to
    the dead-letter topic at once. The rest are handled together in one transaction that claims
    all their event ids in the inbox and runs each handler in order, so a busy consumer pays one
    commit per batch instead of one per event. When a handler raises, the batch rolls back: the
    records before it are handled again as a batch, the failing one alone with retries and
    backoff (after `max_attempts` it goes to `<topic>.dlq` with the error in its headers), and
    the records after it as a new batch. A `Batched` handler gets each run of consecutive
    events of its type in one call; when it raises, each event of the run is tried alone. With
    `concurrency` above 1, a poll's records are handled in lanes by partition number, each lane
    its own transaction, several at once. After a poll that brought fewer records than
    `max_poll_records`, the runner lingers `linger` seconds and takes what came meanwhile into
    the same batch: a little latency for far fewer transactions under load. A transaction
    takes at most `transaction_size` records, so a catch-up's large polls hold no lock for long.
    `before_commit` runs at the end of every such transaction, for work a service does once per
    batch rather than once per event. Offsets are committed only after the records before them
    are done.
    """

    def __init__(
        self,
        *,
        name: str,
        bootstrap_servers: str,
        topics: Sequence[str],
        sessionmaker: async_sessionmaker[AsyncSession],
        handlers: Mapping[type[EventData], Handler | Batched],
        publisher: Publisher,
        max_attempts: int = 5,
        first_backoff: float = 0.1,
        max_backoff: float = 5.0,
        max_poll_records: int = 200,
        concurrency: int = 1,
        linger: float = 0.0,
        transaction_size: int = 250,
        before_commit: Callable[[AsyncSession], Awaitable[None]] | None = None,
    ) -> None:
        self.name = name
        self._bootstrap_servers = bootstrap_servers
        self._topics = list(topics)
        self._sessionmaker = sessionmaker
        self._handlers = {model.event_type: handler for model, handler in handlers.items()}
        self._publisher = publisher
        self._max_attempts = max_attempts
        self._first_backoff = first_backoff
        self._max_backoff = max_backoff
        self._max_poll_records = max_poll_records
        self._concurrency = concurrency
        self._linger = linger
        self._transaction_size = transaction_size
        self._before_commit = before_commit
        self._done: dict[TopicPartition, int] = {}
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._caught_up = False

    def start(self) -> None:
        """Run the consumer in the background."""
        self._task = asyncio.create_task(self.run(), name=f"consumer-{self.name}")

    async def stop(self) -> None:
        """Finish the record under way, commit what is done and leave the group."""
        self._stopping.set()
        if self._task is not None:
            await self._task

    @property
    def running(self) -> bool:
        """Tell whether the background task is alive (for readiness)."""
        return self._task is not None and not self._task.done()

    def caught_up(self) -> bool:
        """Tell whether the consumer has reached the end of its partitions since it (re)joined.

        Timers that judge by the absence of an event (a deadline breached because no resolution
        came) must wait for this: before it, the event may still be in the backlog.
        """
        return self._caught_up

    async def run(self) -> None:
        """Consume until stopped; start over with a fresh consumer after an unexpected error."""
        backoff = self._first_backoff
        while not self._stopping.is_set():
            try:
                await self.run_once()
            except Exception:
                log.exception("consumer %s failed; restarting it", self.name)
                await self._sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)

    async def run_once(self) -> None:
        """Consume until stopped or until an error escapes; `run` restarts it."""
        consumer = await self._connect()
        if consumer is None:
            return
        try:
            while not self._stopping.is_set():
                batch = await self._poll(consumer)
                await self._consume(consumer, batch)
                await self._commit_offsets()
                if not self._caught_up:
                    self._caught_up = await self._at_end(consumer)
        finally:
            self._consumer = None
            self._caught_up = False
            await consumer.stop()

    async def _poll(
        self, consumer: AIOKafkaConsumer
    ) -> dict[TopicPartition, list[ConsumerRecord[Any, Any]]]:
        """Take the next records; after a poll that brought few, linger to take more with them.

        Every transaction costs its round trips and its commit whatever its size, so a busy
        consumer that handled each poll as it came would pay them for every record or two. The
        fetcher goes on filling its buffer in the background while the consumer lingers.
        """
        batch = {
            tp: list(records) for tp, records in (await consumer.getmany(timeout_ms=500)).items()
        }
        taken = sum(len(records) for records in batch.values())
        if not taken or taken >= self._max_poll_records or not self._linger:
            return batch
        if not await self._sleep(self._linger):
            return batch
        more = await consumer.getmany(timeout_ms=0, max_records=self._max_poll_records - taken)
        for tp, records in more.items():
            batch.setdefault(tp, []).extend(records)
        return batch

    async def _at_end(self, consumer: AIOKafkaConsumer) -> bool:
        assigned = consumer.assignment()
        if not assigned:
            return False
        for tp in assigned:
            highwater = consumer.highwater(tp)
            if highwater is None or await consumer.position(tp) < highwater:
                return False
        return True

    async def _connect(self) -> AIOKafkaConsumer | None:
        backoff = self._first_backoff
        while not self._stopping.is_set():
            consumer = make_consumer(
                self._bootstrap_servers,
                group_id=self.name,
                client_id=self.name,
                max_poll_records=self._max_poll_records,
            )
            try:
                await consumer.start()
            except (KafkaError, OSError) as exc:
                await consumer.stop()
                log.warning("consumer %s cannot reach Kafka yet: %r", self.name, exc)
                await self._sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)
                continue
            subscribe(consumer, self._topics, self._on_revoke, self._on_assign)
            self._consumer = consumer
            return consumer
        return None

    async def _consume(
        self,
        consumer: AIOKafkaConsumer,
        batch: Mapping[TopicPartition, Sequence[ConsumerRecord[Any, Any]]],
    ) -> None:
        """Handle a poll's records and note, per partition, the offset everything before is done."""
        work: list[_Work] = []
        settled: dict[TopicPartition, list[tuple[int, bool]]] = {}
        for tp, records in batch.items():
            # A rebalance may have given the partition to another member: it resumes from the
            # last commit, and handling on would race it.
            if tp not in consumer.assignment():
                continue
            for record in records:
                item = await self._work_of(tp, record)
                if isinstance(item, _Work):
                    work.append(item)
                    continue
                settled.setdefault(tp, []).append((record.offset, item))
                if not item:
                    break
        for items, handled in await self._handle_lanes(work):
            for position, item in enumerate(items):
                settled.setdefault(item.tp, []).append((item.record.offset, position < handled))
        for tp, outcomes in settled.items():
            for offset, done in sorted(outcomes):
                if not done:
                    break
                self._done[tp] = offset + 1

    async def _work_of(self, tp: TopicPartition, record: ConsumerRecord[Any, Any]) -> _Work | bool:
        """Give the work a record holds; True when it is done without, False when stopping."""
        if self._stopping.is_set():
            return False
        if not self._wanted(record):
            EVENTS_HANDLED.labels(self.name, "ignored").inc()
            return True
        try:
            event = decode(record.value if record.value is not None else b"")
        except UnknownEventType as exc:
            # A newer producer's type (a rolling deploy): not ours to judge, nor poison.
            log.warning(
                "consumer %s skips %s:%d@%d: %s",
                self.name,
                record.topic,
                record.partition,
                record.offset,
                exc,
            )
            EVENTS_HANDLED.labels(self.name, "unknown_type").inc()
            return True
        except DecodeError as exc:
            return await self._dead_letter(record, exc, attempts=1)
        except Exception as exc:  # noqa: BLE001 - a decoder bug must not stop the partition
            # Retrying could only fail the same way and restart the consumer on this record
            # forever: what cannot be read goes to the dead letters, with the error's kind.
            log.exception("consumer %s could not decode a record", self.name)
            return await self._dead_letter(record, exc, attempts=1)
        handler = self._handlers.get(event.type)
        if handler is None:
            EVENTS_HANDLED.labels(self.name, "ignored").inc()
            return True
        return _Work(tp, record, event, handler)

    def _wanted(self, record: ConsumerRecord[Any, Any]) -> bool:
        """Tell from the record's type header whether it may need handling here.

        A record without the header, or naming a type this code does not know, is decoded to
        find out (and dead-lettered if it is not an event at all).
        """
        named = next((v for k, v in record.headers or () if k == CE_TYPE_HEADER), None)
        if named is None:
            return True
        try:
            return REGISTRY.newest(named.decode()).event_type in self._handlers
        except (UnicodeDecodeError, UnknownEventType):
            return True

    async def _handle_lanes(self, work: Sequence[_Work]) -> list[tuple[list[_Work], int]]:
        """Handle the work in lanes by partition number, up to `concurrency` lanes at once.

        A record's key picks its partition number the same way on every topic (with equal
        partition counts), so one interaction's events, whatever their topic, share a lane and
        keep their order, and two lanes at once never write the same interaction.
        """
        lanes: dict[int, list[_Work]] = {}
        for item in work:
            lanes.setdefault(item.tp.partition if self._concurrency > 1 else 0, []).append(item)
        if len(lanes) <= 1:
            return [(items, await self._handle(items)) for items in lanes.values()]
        slots = asyncio.Semaphore(self._concurrency)

        async def lane(items: list[_Work]) -> tuple[list[_Work], int]:
            async with slots:
                return items, await self._handle(items)

        return list(await asyncio.gather(*(lane(items) for items in lanes.values())))

    async def _handle(self, work: Sequence[_Work]) -> int:
        """Handle the items in order, at most `transaction_size` a transaction; return how many
        leading ones are done (all but stopping).

        A catch-up brings a full poll at once: one transaction for all of it would hold its row
        locks (agents offered work, say) long enough to stall the requests that need them.
        """
        done = 0
        for start in range(0, len(work), self._transaction_size):
            chunk = work[start : start + self._transaction_size]
            try:
                await self._in_one_transaction(chunk)
            except _BatchFailed as failed:
                handled = await self._recover(chunk, failed)
                done += handled
                if handled < len(chunk):
                    break
                continue
            done += len(chunk)
        return done

    async def _recover(self, work: Sequence[_Work], failed: _BatchFailed) -> int:
        """After a failed batch: the items before the failing ones, each of them alone, the rest."""
        done = await self._handle(work[: failed.at])
        if done < failed.at:
            return done
        end = failed.at + failed.width
        if failed.width == 1:
            if not await self._process(work[failed.at], failed=failed.error):
                return failed.at
        else:
            for position in range(failed.at, end):
                if await self._handle(work[position : position + 1]) < 1:
                    return position
        return end + await self._handle(work[end:])

    async def _in_one_transaction(self, work: Sequence[_Work]) -> None:
        started = time.perf_counter()
        outcomes: list[str] = []
        at, width = 0, 1  # the handler call under way, for the error
        try:
            async with self._sessionmaker.begin() as session:
                claimed = await claim_many(
                    session,
                    consumer=self.name,
                    events=[item.event for item in work if _claims(item)],
                )
                claimed.update(item.event.id for item in work if not _claims(item))
                for run in _runs(work):
                    first = len(outcomes)
                    fresh: list[tuple[int, Envelope[Any]]] = []
                    for item in run:
                        # An id twice in one batch (a producer's retry) is handled once.
                        if item.event.id in claimed:
                            claimed.discard(item.event.id)
                            fresh.append((len(outcomes), item.event))
                            outcomes.append("handled")
                        else:
                            outcomes.append("duplicate")
                    handler = run[0].handler
                    if isinstance(handler, Batched):
                        at, width = first, len(run)
                        if fresh:
                            await handler.handle([event for _, event in fresh], session)
                        continue
                    width = 1
                    for position, event in fresh:
                        at = position  # for the error below
                        await handler(event, session)
                at, width = 0, 1
                if self._before_commit is not None:
                    await self._before_commit(session)
        except Exception as exc:  # noqa: BLE001 - retried record by record, then dead-lettered
            if len(work) > 1:
                log.info(
                    "consumer %s rolled back a batch of %d at event %s (%s): %s",
                    self.name,
                    len(work),
                    work[at].event.id,
                    work[at].event.type,
                    describe_error(exc),
                )
            raise _BatchFailed(at, min(width, len(work) - at), exc) from exc
        elapsed = time.perf_counter() - started
        log.debug("consumer %s handled %d events in %.1f ms", self.name, len(work), elapsed * 1e3)
        share = elapsed / len(work)
        for outcome in outcomes:
            HANDLER_SECONDS.labels(self.name).observe(share)
            EVENTS_HANDLED.labels(self.name, outcome).inc()

    async def _process(self, item: _Work, *, failed: Exception) -> bool:
        """Handle one item alone after it failed once; False when stopping left it undone."""
        attempt = 1
        backoff = self._first_backoff
        error = failed
        while True:
            transient = is_transient(error)
            log.warning(
                "consumer %s failed on event %s (%s), attempt %d%s: %s",
                self.name,
                item.event.id,
                item.event.type,
                attempt,
                " (transient, retrying)" if transient else "",
                describe_error(error),
            )
            if not transient and attempt >= self._max_attempts:
                return await self._dead_letter(item.record, error, attempts=attempt)
            if not await self._sleep(backoff):
                return False
            backoff = min(backoff * 2, self._max_backoff)
            attempt += 1
            try:
                await self._in_one_transaction([item])
            except _BatchFailed as again:
                error = again.error
                continue
            return True

    async def _dead_letter(
        self, record: ConsumerRecord[Any, Any], error: BaseException, *, attempts: int
    ) -> bool:
        headers = [
            *[(key, value) for key, value in (record.headers or ())],
            # What the error says of the record (a pydantic input_value, a key's DETAIL) could
            # be a person's words: the header names the kind of failure only.
            ("dlq.error", describe_error(error).encode()),
            ("dlq.error_type", type(error).__name__.encode()),
            ("dlq.original_topic", record.topic.encode()),
            ("dlq.original_partition", str(record.partition).encode()),
            ("dlq.original_offset", str(record.offset).encode()),
            ("dlq.consumer", self.name.encode()),
            ("dlq.attempts", str(attempts).encode()),
        ]
        backoff = self._first_backoff
        while True:
            try:
                await self._publisher.send_and_wait(
                    dlq_topic(record.topic),
                    value=record.value if record.value is not None else b"",
                    key=record.key,
                    headers=headers,
                )
            except (KafkaError, TimeoutError, OSError) as exc:
                log.warning("consumer %s cannot dead-letter yet: %r", self.name, exc)
                if not await self._sleep(backoff):
                    return False
                backoff = min(backoff * 2, self._max_backoff)
                continue
            log.error(
                "consumer %s sent %s:%d@%d to %s: %s",
                self.name,
                record.topic,
                record.partition,
                record.offset,
                dlq_topic(record.topic),
                describe_error(error),
            )
            EVENTS_HANDLED.labels(self.name, "dead_lettered").inc()
            return True

    async def _commit_offsets(self, partitions: set[TopicPartition] | None = None) -> None:
        if self._consumer is None:
            return
        assigned = self._consumer.assignment()
        # Offsets of partitions this member no longer owns can never be committed by it.
        for tp in [tp for tp in self._done if tp not in assigned]:
            del self._done[tp]
        offsets = {
            tp: offset
            for tp, offset in self._done.items()
            if partitions is None or tp in partitions
        }
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except CommitFailedError:
            # The partitions went to another member, which resumes from the last commit; the
            # inbox makes the redelivery harmless.
            log.info("consumer %s lost partitions before committing", self.name)
        except KafkaError as exc:
            log.warning("consumer %s could not commit yet, keeps the offsets: %r", self.name, exc)
            return
        for tp in offsets:
            self._done.pop(tp, None)

    async def _on_revoke(self, revoked: set[TopicPartition]) -> None:
        await self._commit_offsets(revoked)
        for tp in revoked:
            self._done.pop(tp, None)

    async def _on_assign(self, assigned: set[TopicPartition]) -> None:
        # New partitions may come with a backlog: not caught up until their end is reached.
        self._caught_up = False

    async def _sleep(self, seconds: float) -> bool:
        """Sleep unless stopping; False when stopping cut the sleep short."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._stopping.wait()
        return not self._stopping.is_set()
