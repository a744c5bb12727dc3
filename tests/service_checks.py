"""Checks every service must pass: the migration stairway and the operational HTTP surface."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from alembic import command
from alembic.script import ScriptDirectory
from fastapi import FastAPI
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from atende_events.runtime import Runtime
from tests.infra import KAFKA_BOOTSTRAP, alembic_config, fresh_namespace, migrate, scratch_database


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


def build_app(service: str, database_url: str, **overrides: Any) -> FastAPI:
    """Build the service's app through its own create_app and Settings."""
    main = importlib.import_module(f"{service}.main")
    config = importlib.import_module(f"{service}.config")
    settings = config.Settings(
        database_url=database_url, kafka_bootstrap=KAFKA_BOOTSTRAP, **overrides
    )
    app: FastAPI = main.create_app(settings)
    return app


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan and give a client that calls it in-process."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


@dataclass
class RunningService:
    """A service running in-process on its own database and topic namespace."""

    app: FastAPI
    client: httpx.AsyncClient
    namespace: str
    database_url: str

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime

    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        return self.runtime.sessionmaker


@asynccontextmanager
async def running_service(
    service: str, *, namespace: str | None = None, **overrides: Any
) -> AsyncIterator[RunningService]:
    """Run a service on a fresh migrated database, relay and consumers included.

    Services that should see each other's events in one test share a namespace (from
    `fresh_namespace()`); without one the service gets a namespace of its own.
    """
    namespace = namespace if namespace is not None else await fresh_namespace()
    async with scratch_database(service) as url:
        await migrate(service, url)
        app = build_app(
            service,
            url,
            topic_namespace=namespace,
            consumer_group=f"{namespace}atende-{service}",
            **overrides,
        )
        async with serving(app) as client:
            yield RunningService(app=app, client=client, namespace=namespace, database_url=url)


async def check_operational_surface(service: str) -> None:
    """Health, readiness (true only with both dependencies), metrics, and problem details."""
    async with scratch_database(f"{service}_ops") as url:
        await migrate(service, url)
        async with serving(build_app(service, url)) as client:
            health = await client.get("/healthz")
            assert (health.status_code, health.json()) == (200, {"status": "ok"})

            ready = await client.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"] == {"database": True, "kafka": True, "workers": True}

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
