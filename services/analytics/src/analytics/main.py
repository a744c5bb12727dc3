"""The analytics app: create_app(settings) and the lifespan that runs its consumer."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from analytics import SERVICE, domain, rollups
from analytics.api import router
from analytics.config import Settings
from analytics.consumers import handlers
from atende_events.runtime import install, running
from atende_events.web import configure_logging

STATIC = Path(__file__).parent / "static"


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the analytics app; `uvicorn analytics.main:create_app --factory` serves it."""
    settings = settings or Settings()
    configure_logging(SERVICE, settings.log_level)
    calendar = domain.brazil_calendar(settings.time_zone)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running(
            SERVICE, settings, handlers=handlers(calendar), before_commit=rollups.settle
        ) as runtime:
            app.state.runtime = runtime
            yield

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
        return FileResponse(STATIC / "dashboard.html", media_type="text/html")

    app.mount("/dashboard/assets", StaticFiles(directory=STATIC), name="dashboard-assets")
    return app
