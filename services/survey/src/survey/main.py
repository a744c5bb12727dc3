"""The survey app: create_app(settings) and the lifespan that runs its relay, consumer and timer."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import httpx
from fastapi import FastAPI
from prometheus_client import Counter
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atende_events.runtime import install, running
from atende_events.web import configure_logging
from survey import SERVICE, intake_client, service
from survey.api import router
from survey.config import Settings
from survey.consumers import handlers
from survey.service import Dispatcher

log = logging.getLogger(__name__)

TIMER_WORK = Counter(
    "atende_survey_timer_work_total",
    "Due work the survey timer took: dispatch attempts, expiries and follow-ups.",
    ["kind"],
)

PURGE_EVERY = 3600.0
"""Seconds between two purges of receptions that outlived their retention."""

Step = Callable[[AsyncSession, datetime], Awaitable[int]]


async def _run_step(
    sessionmaker: async_sessionmaker[AsyncSession], kind: str, step: Step, limit: int
) -> int:
    """Do due work of one kind, one transaction per item, until none is due or the batch is done.

    Return how many items were done.
    """
    done_in_all = 0
    for _ in range(limit):
        try:
            async with sessionmaker.begin() as session:
                done = await step(session, datetime.now(UTC))
        except (SQLAlchemyError, OSError) as exc:
            log.warning("survey timer (%s) cannot reach the database: %r", kind, exc)
            break
        except Exception:  # noqa: BLE001 - the timer must outlive one bad item
            log.exception("survey timer (%s) failed on an item; retrying later", kind)
            break
        TIMER_WORK.labels(kind).inc(done)
        done_in_all += done
        if not done:
            break
    return done_in_all


async def _run_steps_at_once(
    sessionmaker: async_sessionmaker[AsyncSession],
    kind: str,
    step: Step,
    limit: int,
    workers: int,
) -> int:
    """Share a batch among workers that each take their items with SKIP LOCKED; return the total.

    Sending a link waits on intake and on the mail or message server, not on this process: one
    at a time, those waits and not the work would set how many links go out per second.
    """
    shares = [limit // workers + (1 if n < limit % workers else 0) for n in range(workers)]
    done = await asyncio.gather(
        *(_run_step(sessionmaker, kind, step, share) for share in shares if share)
    )
    return sum(done)


async def run_timers_forever(
    sessionmaker: async_sessionmaker[AsyncSession],
    dispatcher: Dispatcher,
    stopping: asyncio.Event,
) -> None:
    """Send due links, expire old ones and open follow-ups until stopped; one per instance."""
    settings = dispatcher.settings
    limit = settings.timer_batch_size

    async def dispatch(session: AsyncSession, now: datetime) -> int:
        return int(await service.dispatch_next(session, dispatcher=dispatcher, now=now))

    async def expire(session: AsyncSession, now: datetime) -> int:
        return await service.expire_due(session, now=now, limit=limit)

    async def followup(session: AsyncSession, now: datetime) -> int:
        return int(await service.open_next_followup(session, dispatcher=dispatcher, now=now))

    async def purge(session: AsyncSession, now: datetime) -> int:
        await service.purge_receptions(session, before=now - settings.reception_retention)
        return 0  # one pass: the delete takes every old row at once

    loop = asyncio.get_running_loop()
    next_purge = loop.time()
    while not stopping.is_set():
        dispatched = await _run_steps_at_once(
            sessionmaker, "dispatch", dispatch, limit, settings.dispatch_concurrency
        )
        await _run_step(sessionmaker, "expire", expire, 1)
        opened = await _run_step(sessionmaker, "followup", followup, limit)
        if loop.time() >= next_purge:
            await _run_step(sessionmaker, "purge", purge, 1)
            next_purge = loop.time() + PURGE_EVERY
        if dispatched >= limit or opened >= limit:
            continue  # a full batch: more may be due already
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(settings.timer_interval):
                await stopping.wait()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the survey app; `uvicorn survey.main:create_app --factory` serves it."""
    settings = settings or Settings()
    configure_logging(SERVICE, settings.log_level)
    messages = settings.messages()  # invalid texts or keywords stop the service here, at start
    themes = settings.themes()
    rules = settings.eligibility()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with (
            running(SERVICE, settings, handlers=handlers(rules)) as runtime,
            intake_client.make_client(
                settings.intake_base_url, settings.intake_api_key, settings.intake_timeout
            ) as intake,
            httpx.AsyncClient(timeout=settings.intake_timeout) as webhook,
        ):
            app.state.runtime = runtime
            dispatcher = Dispatcher(
                settings=settings,
                policy=settings.dispatch_policy(),
                messages=messages,
                intake=intake,
                webhook=webhook,
            )
            stopping = asyncio.Event()
            timer = asyncio.create_task(
                run_timers_forever(runtime.sessionmaker, dispatcher, stopping),
                name="survey-timer",
            )
            try:
                yield
            finally:
                stopping.set()
                await timer

    app = FastAPI(
        title="Atende survey",
        version="0.1.0",
        description="Transactional NPS after resolution and the closed loop of follow-ups.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.messages = messages
    app.state.themes = themes
    install(app, SERVICE, settings)
    app.include_router(router)
    return app
