"""What every service's HTTP side shares: problem details, health, readiness, metrics, logs."""

from __future__ import annotations

import contextvars
import logging
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, Histogram, generate_latest
from pythonjsonlogger.json import JsonFormatter
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from atende_events.db import is_transient

PROBLEM_JSON = "application/problem+json"
CORRELATION_HEADER = "x-correlation-id"

correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "correlation_id", default=None
)

REQUEST_SECONDS = Histogram(
    "atende_http_request_seconds",
    "HTTP request duration by route and status.",
    ["service", "method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


class Dependencies(Protocol):
    """What readiness asks of a running service."""

    async def database_ready(self) -> bool: ...

    async def kafka_ready(self) -> bool: ...

    async def workers_ready(self) -> bool: ...


class ProblemError(Exception):
    """A request that cannot be served, answered as RFC 9457 problem details."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.headers = dict(headers or {})
        self.extensions = extensions


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    """Build a problem-details response."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extensions}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {
            "field": ".".join(str(part) for part in error["loc"][1:]) or str(error["loc"][0]),
            "location": str(error["loc"][0]),
            "message": error["msg"],
            "type": error["type"],
        }
        for error in exc.errors()
    ]


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every error as problem details; a database outage is a 503 to retry, never a 500."""

    @app.exception_handler(RequestValidationError)
    async def on_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _field_errors(exc)
        if any(error["type"] == "json_invalid" for error in errors):
            return problem(
                400, "Unreadable JSON", "The request body is not valid JSON.", errors=errors
            )
        fields = ", ".join(error["field"] for error in errors)
        return problem(422, "Invalid request", f"Invalid fields: {fields}.", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "Error")
        return problem(exc.status_code, title, str(exc.detail), headers=exc.headers)

    @app.exception_handler(ProblemError)
    async def on_problem(_: Request, exc: ProblemError) -> JSONResponse:
        return problem(exc.status, exc.title, exc.detail, headers=exc.headers, **exc.extensions)

    @app.exception_handler(OperationalError)
    @app.exception_handler(PoolTimeoutError)
    @app.exception_handler(OSError)
    async def on_database_down(_: Request, exc: Exception) -> JSONResponse:
        logging.getLogger(__name__).error("database unavailable: %r", exc)
        return problem(
            503,
            "Service unavailable",
            "The database is not reachable; nothing was recorded. Retry shortly.",
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(DBAPIError)
    async def on_connection_lost(request: Request, exc: DBAPIError) -> JSONResponse:
        if is_transient(exc):
            return await on_database_down(request, exc)
        raise exc


def ops_router(dependencies_of: Callable[[Request], Dependencies]) -> APIRouter:
    """Serve /healthz (the process is alive), /readyz (its dependencies answer) and /metrics."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="The process is alive.")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="The database and Kafka answer.")
    async def readyz(request: Request) -> JSONResponse:
        dependencies = dependencies_of(request)
        results = {
            "database": await dependencies.database_ready(),
            "kafka": await dependencies.kafka_ready(),
            "workers": await dependencies.workers_ready(),
        }
        ready = all(results.values())
        body = {"status": "ready" if ready else "not ready", "checks": results}
        return JSONResponse(body, status_code=200 if ready else 503)

    @router.get("/metrics", summary="Prometheus metrics.", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


class RequestContextMiddleware:
    """Time every request for /metrics and carry a correlation id through logs and replies."""

    def __init__(self, app: ASGIApp, *, service: str) -> None:
        self._app = app
        self._service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(CORRELATION_HEADER.encode())
        cid = incoming.decode("latin-1")[:128] if incoming else str(uuid.uuid4())
        token = correlation_id.set(cid)
        status = 500
        started = time.perf_counter()
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message["headers"] = [
                    *message.get("headers", []),
                    (CORRELATION_HEADER.encode(), cid.encode("latin-1")),
                ]
            await send(message)

        try:
            await self._app(scope, receive, send_with_id)
        except Exception:
            # A bug, not bad input: log it with the correlation id and answer as a problem,
            # so the caller has the id to quote; the process goes on.
            logging.getLogger(__name__).exception("unhandled error")
            if response_started:
                raise
            response = problem(
                500,
                "Internal error",
                f"Something went wrong on our side; quote correlation id {cid}.",
            )
            await response(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            REQUEST_SECONDS.labels(self._service, scope["method"], path, str(status)).observe(
                time.perf_counter() - started
            )
            correlation_id.reset(token)


class _CorrelationFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self._service
        record.correlation_id = correlation_id.get()
        record.__dict__.pop("color_message", None)  # uvicorn's ANSI-coloured duplicate
        return True


def configure_logging(service: str, level: str = "INFO") -> None:
    """Log JSON lines to stderr, each with the service and the request's correlation id."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "{levelname}{name}{message}",
            style="{",
            timestamp="time",
            rename_fields={"levelname": "level", "name": "logger"},
        )
    )
    handler.addFilter(_CorrelationFilter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn installs its own plain-text handlers before the app exists: route them through ours.
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.getLogger("aiokafka").setLevel(max(root.level, logging.WARNING))
