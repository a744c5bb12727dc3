"""Group commit for registrations: requests that arrive together are written in one transaction.

Every request to register waits for the commit of its interaction and event before it is
answered; a transaction per request made intake's throughput the number of commits (and their
round trips) one process could drive. The registrar keeps that guarantee and lets concurrent
requests share a transaction: a few writers each take every registration waiting at that moment
(up to a batch size) and write them together. At low load a batch is one request and nothing
waits for company; under load batches grow by themselves.

A batch that fails for a reason of the infrastructure (the database unreachable) fails every
request in it, to be answered 503 and retried. Any other failure is one request's: the batch is
written again one registration per transaction, so the others go through.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from prometheus_client import Histogram
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atende_events.db import is_transient
from intake import service
from intake.config import Settings

log = logging.getLogger(__name__)

BATCH_SIZES = Histogram(
    "atende_intake_registration_batch_size",
    "Registrations written per transaction.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)


@dataclass
class _Waiting:
    registration: service.Registration
    answer: asyncio.Future[service.Outcome] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    @property
    def key(self) -> tuple[str, str] | None:
        key = self.registration.idempotency_key
        return None if key is None else (self.registration.client, key)


class Registrar:
    """Write registrations in shared transactions and give each request its own outcome."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        *,
        writers: int = 2,
        batch_size: int = 100,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._settings = settings
        self._writers = writers
        self._batch_size = batch_size
        self._waiting: list[_Waiting] = []
        self._wake = asyncio.Condition()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    def start(self) -> None:
        """Start the writers."""
        self._tasks = [
            asyncio.create_task(self._write_forever(), name=f"intake-registrar-{n}")
            for n in range(self._writers)
        ]

    async def stop(self) -> None:
        """Write what is waiting, then stop the writers."""
        async with self._wake:
            self._stopping = True
            self._wake.notify_all()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def register(self, registration: service.Registration) -> service.Outcome:
        """Register one interaction; return once it is committed (or refused, or replayed)."""
        waiting = _Waiting(registration)
        async with self._wake:
            if self._stopping:
                raise RuntimeError("intake is shutting down")
            self._waiting.append(waiting)
            self._wake.notify()
        # Shielded: a caller that goes away must not cancel the outcome the writer will set.
        return await asyncio.shield(waiting.answer)

    async def _write_forever(self) -> None:
        while True:
            async with self._wake:
                await self._wake.wait_for(lambda: bool(self._waiting) or self._stopping)
                if not self._waiting:
                    return
                batch = self._take()
            await self._write(batch)

    def _take(self) -> list[_Waiting]:
        """Take waiting registrations in arrival order, at most one per idempotency key.

        A second request with a key already in the batch waits for the next one, where it sees
        the first one's answer.
        """
        batch: list[_Waiting] = []
        rest: list[_Waiting] = []
        keys: set[tuple[str, str]] = set()
        for waiting in self._waiting:
            key = waiting.key
            if len(batch) >= self._batch_size or (key is not None and key in keys):
                rest.append(waiting)
                continue
            if key is not None:
                keys.add(key)
            batch.append(waiting)
        self._waiting = rest
        return batch

    async def _write(self, batch: Sequence[_Waiting]) -> None:
        BATCH_SIZES.observe(len(batch))
        try:
            outcomes = await self._transaction(batch)
        except Exception as exc:  # noqa: BLE001 - every failure is given to its requests
            if is_transient(exc) or len(batch) == 1:
                for waiting in batch:
                    _settle(waiting, exc)
                return
            log.warning("a batch of %d registrations failed, writing them one by one", len(batch))
            for waiting in batch:
                await self._write([waiting])
            return
        for waiting, outcome in zip(batch, outcomes, strict=True):
            _settle(waiting, outcome)

    async def _transaction(self, batch: Sequence[_Waiting]) -> list[service.Outcome]:
        async with self._sessionmaker.begin() as session:
            return await service.register_interactions(
                session, [waiting.registration for waiting in batch], settings=self._settings
            )


def _settle(waiting: _Waiting, outcome: service.Outcome) -> None:
    if not waiting.answer.done():
        waiting.answer.set_result(outcome)
