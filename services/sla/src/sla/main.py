"""The sla app: create_app(settings) and the lifespan that runs its relay, consumer and timer."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from prometheus_client import Counter
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atende_events.runtime import Runtime, install, running
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
    caught_up: Callable[[], bool],
) -> None:
    """Fire due warnings and breaches until stopped; every instance runs one.

    A breach is final, so the timer must not beat a stop event in time that is already on
    Kafka. Two guards: the timer holds while this instance's consumer has not yet read to the
    end of its partitions since it (re)joined the group (a start, a restart, a rebalance), and a
    breach waits `breach_grace` past the deadline. What they leave open: in steady state, a stop
    event that reaches sla more than the grace after its deadline (consumer lag above the grace)
    loses to the timer and the clock is breached though it was met; and with several instances,
    a caught-up instance's timer also fires clocks whose stop events wait in another instance's
    backlog, as `caught_up` speaks only for this instance's partitions.
    """
    grace = timedelta(seconds=settings.breach_grace)
    holding = False
    while not stopping.is_set():
        fired = 0
        if not caught_up():
            if not holding:
                log.info("sla due-timer holds until the consumer has caught up with its backlog")
            holding = True
        else:
            if holding:
                log.info("sla consumer caught up; the due-timer fires again")
            holding = False
            try:
                async with sessionmaker.begin() as session:
                    fired = await service.fire_due(
                        session,
                        book=book,
                        now=datetime.now(UTC),
                        limit=settings.timer_batch_size,
                        breach_grace=grace,
                        max_failures=settings.timer_max_failures,
                    )
            except (SQLAlchemyError, OSError) as exc:
                log.warning("sla due-timer cannot reach the database: %r", exc)
            except Exception:  # noqa: BLE001 - the timer must outlive one bad batch
                log.exception("sla due-timer failed on a batch; retrying")
        TIMER_FIRED.inc(fired)
        if fired >= settings.timer_batch_size:
            continue  # more are due: take the next batch at once
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(settings.timer_interval):
                await stopping.wait()


def _caught_up(runtime: Runtime) -> Callable[[], bool]:
    """Tell whether every consumer of the instance has read its backlog since it (re)joined."""

    def caught_up() -> bool:
        # Consumers without `caught_up` (older atende_events) are taken as caught up.
        return all(getattr(c, "caught_up", lambda: True)() for c in runtime.consumers)

    return caught_up


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
                fire_due_forever(
                    runtime.sessionmaker, book, settings, stopping, _caught_up(runtime)
                ),
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
