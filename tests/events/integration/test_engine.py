"""The shared engine: pooled connections the server closed are never handed out."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


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
