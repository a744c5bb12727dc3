"""The routing app: create_app(settings) and the lifespan: relay, consumer and the timer loop."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from prometheus_client import Counter
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atende_events.runtime import install, running
from atende_events.web import configure_logging
from routing import SERVICE, service
from routing.api import router
from routing.config import Settings
from routing.consumers import handlers

log = logging.getLogger(__name__)

TIMERS_FIRED = Counter(
    "atende_routing_timers_fired_total", "Offer timeouts and escalation steps fired.", ["kind"]
)


async def run_timers_once(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, *, sweep: bool
) -> None:
    """Time out expired offers, take escalation steps, and (on a sweep) fill agents with room."""
    while True:
        async with sessionmaker.begin() as session:
            follow = await service.expire_one_offer(session, settings=settings)
        if follow is None:
            break
        TIMERS_FIRED.labels("offer_timeout").inc()
        await service.after_commit(sessionmaker, follow, settings=settings)
    while True:
        async with sessionmaker.begin() as session:
            escalated = await service.escalate_one(session, settings=settings)
        if not escalated:
            break
        TIMERS_FIRED.labels("escalation").inc()
    if sweep:
        async with sessionmaker.begin() as session:
            agents = await service.agents_with_room(session)
        await service.after_commit(
            sessionmaker, service.Follow(agents=tuple(agents)), settings=settings
        )


async def run_timers_forever(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, stopping: asyncio.Event
) -> None:
    """Fire due timers every short interval until stopped; every instance runs one."""
    loop = asyncio.get_running_loop()
    next_sweep = loop.time() + settings.sweep_interval
    while not stopping.is_set():
        sweep = loop.time() >= next_sweep
        try:
            await run_timers_once(sessionmaker, settings, sweep=sweep)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("routing timers cannot reach the database: %r", exc)
        except Exception:  # noqa: BLE001 - the timers must outlive one bad round
            log.exception("routing timers failed on a round; retrying")
        if sweep:
            next_sweep = loop.time() + settings.sweep_interval
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(settings.timer_interval):
                await stopping.wait()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the routing app; `uvicorn routing.main:create_app --factory` serves it."""
    settings = settings or Settings()
    configure_logging(SERVICE, settings.log_level)
    book = settings.rule_book()  # an invalid rules file stops the service here, at start

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running(SERVICE, settings, handlers=handlers(book, settings)) as runtime:
            app.state.runtime = runtime
            stopping = asyncio.Event()
            timers = asyncio.create_task(
                run_timers_forever(runtime.sessionmaker, settings, stopping),
                name="routing-timers",
            )
            try:
                yield
            finally:
                stopping.set()
                await timers

    app = FastAPI(
        title="Atende routing",
        version="0.1.0",
        description="Skill queues, agents and assignments.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.rule_book = book
    install(app, SERVICE, settings)
    app.include_router(router)
    return app
