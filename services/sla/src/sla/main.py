"""The sla app: create_app(settings) and the lifespan that runs its relay, consumer and timer."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from prometheus_client import Counter, Gauge
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atende_events.runtime import Runtime, install, running
from atende_events.web import configure_logging
from sla import SERVICE, service
from sla.api import router
from sla.config import Settings
from sla.consumers import handlers
from sla.domain.book import PolicyBook
from sla.service.watermarks import stop_events_known_until

log = logging.getLogger(__name__)

TIMER_FIRED = Counter("atende_sla_timer_fired_total", "Warnings and breaches the due-timer fired.")
KNOWN_LAG = Gauge(
    "atende_sla_stop_events_known_lag_seconds",
    "How far behind now sla knows every stop event (the producers' watermarks); breaches of "
    "deadlines after that wait. +Inf while a producer has sent none.",
)


async def fire_due_forever(
    sessionmaker: async_sessionmaker[AsyncSession],
    book: PolicyBook,
    settings: Settings,
    stopping: asyncio.Event,
    caught_up: Callable[[], bool],
) -> None:
    """Fire due warnings and breaches until stopped; every instance runs one.

    A breach is final, so the timer must not beat a stop event in time, wherever it still is:
    in a producer's outbox (Kafka down, a slow relay), in a transaction not yet committed, on
    Kafka, or in another instance's backlog. A deadline is breached only once the watermarks of
    every service in `breach_waits_for` (intake, routing) are past it on every partition, so
    sla has handled every stop event that happened before it, and `breach_grace` after it.
    Warnings need no such proof and fire on time. The timer also holds while this instance's
    consumer has not read to the end of its partitions since it (re)joined the group.
    """
    grace = timedelta(seconds=settings.breach_grace)
    holding = False
    waiting_since: datetime | None = None
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
                    now = datetime.now(UTC)
                    known: datetime | None = now
                    if settings.breach_waits_for:
                        known = await stop_events_known_until(
                            session, producers=settings.breach_waits_for
                        )
                    waiting_since = _note_knowledge(known, now, waiting_since, settings)
                    fired = await service.fire_due(
                        session,
                        book=book,
                        now=now,
                        limit=settings.timer_batch_size,
                        breach_grace=grace,
                        known_until=known,
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


_LAG_WORTH_A_WARNING = timedelta(seconds=30)


def _note_knowledge(
    known: datetime | None, now: datetime, since: datetime | None, settings: Settings
) -> datetime | None:
    """Export how far behind the stop events are known; say once when breaches start to wait."""
    lag = float("inf") if known is None else max(0.0, (now - known).total_seconds())
    KNOWN_LAG.set(lag)
    if lag < _LAG_WORTH_A_WARNING.total_seconds():
        if since is not None:
            log.info("sla knows every stop event again; breaches wait no more")
        return None
    if since is None:
        log.warning(
            "sla breaches wait: the stop events of %s are known only %s (a producer's relay or "
            "Kafka is behind, or a producer sends no watermarks)",
            ", ".join(settings.breach_waits_for),
            "up to " + known.isoformat() if known is not None else "from no watermark yet",
        )
        return now
    return since


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
