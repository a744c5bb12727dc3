"""The intake app: create_app(settings) and the lifespan that runs its relay and consumers."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atende_events.runtime import install, running
from atende_events.web import configure_logging
from intake import SERVICE, service
from intake.api import router
from intake.config import Settings
from intake.consumers import handlers
from intake.registrar import Registrar

log = logging.getLogger(__name__)

PURGE_EVERY = 3600.0


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the intake app; `uvicorn intake.main:create_app --factory` serves it."""
    settings = settings or Settings()
    configure_logging(SERVICE, settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running(SERVICE, settings, handlers=handlers()) as runtime:
            app.state.runtime = runtime
            registrar = Registrar(
                runtime.sessionmaker,
                settings,
                writers=settings.registration_writers,
                batch_size=settings.registration_batch_size,
            )
            registrar.start()
            app.state.registrar = registrar
            purge = asyncio.create_task(
                purge_idempotency_keys(runtime.sessionmaker, settings), name="intake-purge"
            )
            try:
                yield
            finally:
                purge.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await purge
                await registrar.stop()

    app = FastAPI(
        title="Atende intake",
        version="0.1.0",
        description="One front door for every channel: protocol numbers, the party timeline.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    install(app, SERVICE, settings)
    app.include_router(router)
    return app


async def purge_idempotency_keys(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    """Forget expired idempotency keys once an hour; every instance may, deleting is idempotent."""
    while True:
        before = datetime.now(UTC) - timedelta(hours=settings.idempotency_ttl_hours)
        try:
            async with sessionmaker.begin() as session:
                purged = await service.purge_idempotency_keys(session, before=before)
            if purged:
                log.info("purged %d idempotency keys older than %s", purged, before)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("could not purge idempotency keys yet: %r", exc)
        await asyncio.sleep(PURGE_EVERY)
