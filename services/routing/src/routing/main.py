"""The routing app: create_app(settings) and the lifespan that runs its relay and consumers."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from atende_events.runtime import install, running
from atende_events.web import configure_logging
from routing import SERVICE
from routing.config import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the routing app; `uvicorn routing.main:create_app --factory` serves it."""
    settings = settings or Settings()
    configure_logging(SERVICE, settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running(SERVICE, settings) as runtime:
            app.state.runtime = runtime
            yield

    app = FastAPI(
        title="Atende routing",
        version="0.1.0",
        description="Skill queues, agents and assignments.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    install(app, SERVICE, settings)
    return app
