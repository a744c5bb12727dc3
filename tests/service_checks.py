"""Checks every service must pass: the migration stairway and the operational HTTP surface."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from alembic import command
from alembic.script import ScriptDirectory
from fastapi import FastAPI
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from tests.infra import KAFKA_BOOTSTRAP, alembic_config, migrate, scratch_database


async def check_migration_stairway(service: str) -> None:
    """Upgrade through every revision one at a time, downgrading and re-upgrading each."""
    async with scratch_database(f"{service}_stairway") as url:
        config = alembic_config(service, url)
        revisions = list(ScriptDirectory.from_config(config).walk_revisions("base", "heads"))
        assert revisions, f"{service} has no migrations"
        for revision in reversed(revisions):
            down = revision.down_revision or "base"
            assert isinstance(down, str), "one linear history per service"
            await asyncio.to_thread(command.upgrade, config, revision.revision)
            await asyncio.to_thread(command.downgrade, config, down)
            await asyncio.to_thread(command.upgrade, config, revision.revision)
        await asyncio.to_thread(command.downgrade, config, "base")
        assert await _tables(url) == {"alembic_version"}, "downgrade to base leaves nothing"


async def _tables(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


def build_app(service: str, database_url: str) -> FastAPI:
    """Build the service's app through its own create_app and Settings."""
    main = importlib.import_module(f"{service}.main")
    config = importlib.import_module(f"{service}.config")
    settings = config.Settings(database_url=database_url, kafka_bootstrap=KAFKA_BOOTSTRAP)
    app: FastAPI = main.create_app(settings)
    return app


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan and give a client that calls it in-process."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def check_operational_surface(service: str) -> None:
    """Health, readiness (true only with both dependencies), metrics, and problem details."""
    async with scratch_database(f"{service}_ops") as url:
        await migrate(service, url)
        async with serving(build_app(service, url)) as client:
            health = await client.get("/healthz")
            assert (health.status_code, health.json()) == (200, {"status": "ok"})

            ready = await client.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"] == {"database": True, "kafka": True}

            missing = await client.get("/v1/no-such-thing")
            assert missing.status_code == 404
            assert missing.headers["content-type"] == "application/problem+json"
            assert missing.json()["status"] == 404
            assert missing.headers["x-correlation-id"]

            metrics = await client.get("/metrics")
            assert metrics.status_code == 200
            assert (
                f'atende_http_request_seconds_count{{method="GET",route="/readyz",service="{service}",status="200"}}'
                in metrics.text
            )
            assert f'atende_outbox_relay_active{{service="{service}"}}' in metrics.text

            docs = await client.get("/openapi.json")
            assert docs.status_code == 200 and docs.json()["info"]["title"] == f"Atende {service}"

    unreachable = "postgresql+asyncpg://atende:atende@127.0.0.1:1/nowhere"
    async with serving(build_app(service, unreachable)) as client:
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"] is False
        assert (await client.get("/healthz")).status_code == 200
