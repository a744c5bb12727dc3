"""The analytics app: create_app(settings) and the lifespan that runs its consumer."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from analytics import SERVICE, domain, rollups
from analytics.api import router
from analytics.config import Settings
from analytics.consumers import handlers
from analytics.parking import dead_letter_orphans, parking
from atende_events.runtime import Runtime, install, running
from atende_events.web import configure_logging

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"

# The page runs only its own files: no inline script or style, no other origin, no framing.
DASHBOARD_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


async def sweep_orphans_forever(
    runtime: Runtime, settings: Settings, stopping: asyncio.Event
) -> None:
    """Dead-letter the events whose interaction never came, until stopped."""
    orphan_after = timedelta(seconds=settings.orphan_after)
    while not stopping.is_set():
        try:
            await dead_letter_orphans(
                runtime.sessionmaker,
                runtime.publisher,
                namespace=settings.topic_namespace,
                orphan_after=orphan_after,
            )
        except Exception as exc:  # noqa: BLE001 - Kafka or the database away: next time
            log.warning("analytics cannot dead-letter orphan events yet: %r", exc)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(settings.orphan_check_every):
                await stopping.wait()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the analytics app; `uvicorn analytics.main:create_app --factory` serves it."""
    settings = settings or Settings()
    configure_logging(SERVICE, settings.log_level)
    calendar = domain.business_calendar(settings.time_zone, settings.operator_holidays())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running(
            SERVICE, settings, handlers=parking(handlers(calendar)), before_commit=rollups.settle
        ) as runtime:
            app.state.runtime = runtime
            stopping = asyncio.Event()
            sweeper = asyncio.create_task(
                sweep_orphans_forever(runtime, settings, stopping), name="analytics-orphans"
            )
            try:
                yield
            finally:
                stopping.set()
                await sweeper

    app = FastAPI(
        title="Atende analytics",
        version="0.1.0",
        description="Read models and the KPIs of the contact center.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.calendar = calendar
    install(app, SERVICE, settings)
    app.include_router(router)

    @app.get("/dashboard", include_in_schema=False)
    async def dashboard() -> FileResponse:
        """Serve the supervisor's page; its script reads the API with the key the user gives."""
        return FileResponse(
            STATIC / "dashboard.html",
            media_type="text/html",
            headers={"Content-Security-Policy": DASHBOARD_CSP, "Cache-Control": "no-store"},
        )

    app.mount("/dashboard/assets", StaticFiles(directory=STATIC), name="dashboard-assets")
    return app
