"""The shared engine: pooled connections the server closed are never handed out."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from atende_events import db


async def test_connections_the_server_ended_are_replaced_before_use(engine: AsyncEngine) -> None:
    admin = await engine.connect()
    # Fill the pool with idle connections, as a service has after serving some requests.
    held = [await engine.connect() for _ in range(3)]
    backends = [await conn.scalar(text("SELECT pg_backend_pid()")) for conn in held]
    for conn in held:
        await conn.close()

    # What a PostgreSQL restart does to every pooled connection.
    ended = await admin.scalar(
        text("SELECT count(pg_terminate_backend(pid)) FROM unnest(CAST(:pids AS int[])) pid"),
        {"pids": backends},
    )
    await admin.close()
    assert ended == 3
    await asyncio.sleep(0.2)  # the event loop reads the servers' end of file

    # Every checkout works at once: no request fails on a connection that is gone.
    fresh = [await engine.connect() for _ in range(3)]
    try:
        for conn in fresh:
            pid = await conn.scalar(text("SELECT pg_backend_pid()"))
            assert pid not in backends
    finally:
        for conn in fresh:
            await conn.close()


async def test_two_transactions_that_lose_a_race_both_commit_when_run_in_transaction(
    engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # A write skew under SERIALIZABLE: each reads both rows, then writes its own. PostgreSQL
    # fails one with 40001 (the same retry path as a deadlock's 40P01, without leaving a
    # "deadlock detected" in the server's log for operators to chase).
    async with engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO effects (seq, event_id) VALUES (1, :a), (2, :b)"),
            {"a": uuid.uuid4(), "b": uuid.uuid4()},
        )
    both_read = asyncio.Barrier(2)
    runs: list[str] = []

    def skewing(own: int, name: str) -> Callable[[AsyncSession], Awaitable[None]]:
        async def work(session: AsyncSession) -> None:
            runs.append(name)
            await session.connection(execution_options={"isolation_level": "SERIALIZABLE"})
            await session.execute(text("SELECT sum(seq) FROM effects WHERE note = ''"))
            if runs.count(name) == 1:
                await both_read.wait()  # the first run of each has read what the other writes
            await session.execute(
                text("UPDATE effects SET note = note || :n WHERE seq = :s"), {"n": name, "s": own}
            )

        return work

    await asyncio.gather(
        db.in_transaction(sessionmaker, skewing(1, "a")),
        db.in_transaction(sessionmaker, skewing(2, "b")),
    )
    assert len(runs) == 3, runs  # PostgreSQL failed one of them, which ran again
    async with engine.connect() as conn:
        notes: dict[int, str] = dict(
            (await conn.execute(text("SELECT seq, note FROM effects"))).all()
        )
    assert notes == {1: "a", 2: "b"}


async def test_a_deadlock_past_the_attempts_is_raised_as_a_conflict(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async def always_loses(session: AsyncSession) -> None:
        await session.execute(
            text("DO $$ BEGIN RAISE EXCEPTION 'lost' USING ERRCODE = '40P01'; END $$")
        )

    with pytest.raises(DBAPIError) as raised:
        await db.in_transaction(sessionmaker, always_loses, attempts=2)
    assert db.is_conflict(raised.value)
    assert not db.is_conflict(ValueError("not a database error"))
