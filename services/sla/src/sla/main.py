"""The sla app: create_app(settings) and the lifespan that runs its relay, consumer and timer."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI
from prometheus_client import Counter
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atende_events.runtime import install, running
from atende_events.web import configure_logging
from sla import SERVICE, service
from sla.api import router
from sla.config import Settings
from sla.consumers import handlers
from sla.domain.book import PolicyBook

log = logging.getLogger(__name__)

TIMER_FIRED = Counter("atende_sla_timer_fired_total", "Warnings and breaches the due-timer fired.")


async def fire_due_forever(
    sessionmaker: async_sessionmaker[AsyncSession],
    book: PolicyBook,
    settings: Settings,
    stopping: asyncio.Event,
) -> None:
    """Fire due warnings and breaches until stopped; every instance runs one."""
    while not stopping.is_set():
        try:
            async with sessionmaker.begin() as session:
                fired = await service.fire_due(
                    session, book=book, now=datetime.now(UTC), limit=settings.timer_batch_size
                )
        except (SQLAlchemyError, OSError) as exc:
            log.warning("sla due-timer cannot reach the database: %r", exc)
            fired = 0
        except Exception:  # noqa: BLE001 - the timer must outlive one bad batch
            log.exception("sla due-timer failed on a batch; retrying")
            fired = 0
        TIMER_FIRED.inc(fired)
        if fired == settings.timer_batch_size:
            continue  # more are due: take the next batch at once
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(settings.timer_interval):
                await stopping.wait()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the sla app; `uvicorn sla.main:create_app --factory` serves it."""
    settings = settings or Settings()
    configure_logging(SERVICE, settings.log_level)
    book = settings.policy_book()  # an invalid book stops the service here, at start

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running(SERVICE, settings, handlers=handlers(book)) as runtime:
            app.state.runtime = runtime
            stopping = asyncio.Event()
            timer = asyncio.create_task(
                fire_due_forever(runtime.sessionmaker, book, settings, stopping),
                name="sla-due-timer",
            )
            try:
                yield
            finally:
                stopping.set()
                await timer

    app = FastAPI(
        title="Atende sla",
        version="0.1.0",
        description="Regulatory and operational deadline clocks on business calendars.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.book = book
    install(app, SERVICE, settings)
    app.include_router(router)
    return app
