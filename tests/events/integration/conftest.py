"""Fixtures of the messaging plumbing's integration tests: a scratch database with its tables."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, Text, Uuid
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from atende_events import db
from atende_events.kafka import Publisher
from tests.infra import KAFKA_BOOTSTRAP, scratch_database

# Stands for a handler's state change: one row per time a handler ran for an event.
effects_metadata = MetaData()
effects = Table(
    "effects",
    effects_metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("event_id", Uuid, nullable=False),
    Column("note", Text, nullable=False, server_default=""),
)


@pytest.fixture
async def engine() -> AsyncIterator[AsyncEngine]:
    async with scratch_database("events") as url:
        engine = db.make_engine(url, pool_size=5)
        async with engine.begin() as conn:
            await conn.run_sync(db.metadata.create_all)
            await conn.run_sync(effects_metadata.create_all)
        yield engine
        await engine.dispose()


@pytest.fixture
def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@pytest.fixture
async def publisher() -> AsyncIterator[Publisher]:
    publisher = Publisher(KAFKA_BOOTSTRAP, client_id="tests")
    yield publisher
    await publisher.close()
