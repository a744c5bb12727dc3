"""A service's moving parts for one process lifetime: engine, producer, relay and consumers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from atende_events.auth import ApiKeys, refuse_dev_keys, require_scope
from atende_events.consumer import Batched, ConsumerRunner, Handler
from atende_events.db import make_engine
from atende_events.envelope import EventData
from atende_events.kafka import Publisher
from atende_events.limits import RateLimiter
from atende_events.openapi import document_errors
from atende_events.outbox import OutboxRelay
from atende_events.settings import ServiceSettings
from atende_events.web import (
    BodyLimit,
    RequestContextMiddleware,
    install_problem_handlers,
    ops_router,
)

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """What a running service instance holds; kept on `app.state.runtime`."""

    service: str
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    publisher: Publisher
    relay: OutboxRelay
    consumers: list[ConsumerRunner] = field(default_factory=list)

    async def database_ready(self) -> bool:
        """Tell whether the database answers a trivial query."""
        try:
            async with asyncio.timeout(2), self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:  # noqa: BLE001 - any failure means not ready
            return False
        return True

    async def kafka_ready(self) -> bool:
        """Tell whether Kafka answers a metadata request."""
        return await self.publisher.reachable()

    async def workers_ready(self) -> bool:
        """Tell whether the relay and every consumer are still running."""
        return self.relay.running and all(consumer.running for consumer in self.consumers)


@contextlib.asynccontextmanager
async def running(
    service: str,
    settings: ServiceSettings,
    *,
    handlers: Mapping[type[EventData], Handler | Batched] | None = None,
    before_commit: Callable[[AsyncSession], Awaitable[None]] | None = None,
) -> AsyncIterator[Runtime]:
    """Start the service's engine, outbox relay and consumer; stop them in reverse order.

    `before_commit` runs at the end of each of the consumer's transactions (see ConsumerRunner).
    """
    engine = make_engine(settings.database_url, pool_size=settings.db_pool_size)
    publisher = Publisher(settings.kafka_bootstrap, client_id=f"atende-{service}")
    relay = OutboxRelay(
        service=service,
        engine=engine,
        publisher=publisher,
        namespace=settings.topic_namespace,
        batch_size=settings.relay_batch_size,
        linger=settings.relay_linger_ms / 1000,
        watermark_topics=settings.relay_watermark_topics,
        watermark_every=settings.relay_watermark_every_ms / 1000,
        watermark_margin=settings.relay_watermark_margin_ms / 1000,
    )
    runtime = Runtime(
        service=service,
        engine=engine,
        sessionmaker=async_sessionmaker(engine, expire_on_commit=False),
        publisher=publisher,
        relay=relay,
    )
    if handlers:
        topics = sorted({settings.topic_namespace + model.topic for model in handlers})
        runtime.consumers.append(
            ConsumerRunner(
                name=settings.consumer_group or f"atende-{service}",
                bootstrap_servers=settings.kafka_bootstrap,
                topics=topics,
                sessionmaker=runtime.sessionmaker,
                handlers=handlers,
                publisher=publisher,
                concurrency=settings.consumer_concurrency,
                max_poll_records=settings.consumer_batch_size,
                linger=settings.consumer_linger_ms / 1000,
                transaction_size=settings.consumer_transaction_size,
                before_commit=before_commit,
            )
        )
    relay.start()
    for consumer in runtime.consumers:
        consumer.start()
    log.info("%s started", service)
    try:
        yield runtime
    finally:
        # Drain: consumers finish the record under way and commit, the relay its batch. Each
        # step runs even when an earlier one fails, so nothing is left open.
        steps = [*(consumer.stop for consumer in runtime.consumers), relay.stop, publisher.close]
        for step in steps:
            try:
                await step()
            except Exception:
                log.exception("%s: stopping %s failed", service, step)
        await engine.dispose()
        log.info("%s stopped", service)


def install(app: FastAPI, service: str, settings: ServiceSettings) -> None:
    """Give the app the shared operational surface: errors, auth, limits, health, metrics.

    In production the API documents (/docs, /redoc, /openapi.json) are not served and /metrics
    needs a key with `settings.metrics_scope`.
    """
    refuse_dev_keys(settings.api_keys, environment=settings.environment)
    app.state.api_keys = ApiKeys(settings.api_keys)
    app.state.rate_limiter = RateLimiter(settings.rate_limits)
    install_problem_handlers(app)
    document_errors(app)
    # The body limit sits inside the context middleware, so a 413 is timed and correlated too,
    # and outside every route, so no handler or key check ever reads an oversized body.
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_body_bytes,
        max_header_bytes=settings.http_max_header_bytes,
    )
    app.add_middleware(RequestContextMiddleware, service=service)
    production = settings.environment == "production"
    if production:
        _drop_api_documents(app)

    def runtime_of(request: Request) -> Runtime:
        runtime: Runtime = request.app.state.runtime
        return runtime

    guard = require_scope(settings.metrics_scope) if production else None
    app.include_router(ops_router(runtime_of, metrics_guard=guard))


def _drop_api_documents(app: FastAPI) -> None:
    """Stop serving the OpenAPI document and its pages (FastAPI adds them when it is built)."""
    paths = {app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url}
    app.router.routes[:] = [
        route for route in app.router.routes if getattr(route, "path", None) not in paths
    ]
    app.openapi_url = app.docs_url = app.redoc_url = None
