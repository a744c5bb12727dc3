"""What every service's HTTP side shares: problem details, health, readiness, metrics, logs."""

from __future__ import annotations

import contextvars
import logging
import re
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, Histogram, generate_latest
from pythonjsonlogger.json import JsonFormatter
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from atende_events.db import is_conflict, is_transient

PROBLEM_JSON = "application/problem+json"
CORRELATION_HEADER = "x-correlation-id"

# A correlation id travels into every event and log line: only a short opaque token is taken
# from a caller, never free text where an e-mail or a document number could ride along.
_SAFE_CORRELATION = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_DOCUMENT_SEPARATORS = str.maketrans("", "", ".-:_")

# Sent on every answer unless the route set its own (the dashboard sets a page's CSP).
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
)
# Swagger UI (development only: production serves no docs) needs its scripts and styles.
_DOCS_PATHS = ("/docs", "/redoc")

correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "correlation_id", default=None
)

KAFKA_REACHABLE = Gauge(
    "atende_kafka_reachable", "1 when Kafka answered this instance's last readiness check."
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
        title = {400: "Bad request", 404: "Not found", 405: "Method not allowed"}.get(
            exc.status_code, "Error"
        )
        return problem(exc.status_code, title, str(exc.detail), headers=exc.headers)

    @app.exception_handler(ProblemError)
    async def on_problem(_: Request, exc: ProblemError) -> JSONResponse:
        return problem(exc.status, exc.title, exc.detail, headers=exc.headers, **exc.extensions)

    @app.exception_handler(OperationalError)
    @app.exception_handler(PoolTimeoutError)
    @app.exception_handler(OSError)
    async def on_database_down(_: Request, exc: Exception) -> JSONResponse:
        if is_conflict(exc):
            # The database answered: the request lost a race with concurrent work (after the
            # retries of `in_transaction`, where the route has them), not an outage.
            logging.getLogger(__name__).warning("transaction conflict: %s", type(exc).__name__)
            return problem(
                503,
                "Concurrent update",
                "The request met concurrent work on the same records; nothing was recorded. "
                "Retry shortly.",
                headers={"Retry-After": "1"},
            )
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


def ops_router(
    dependencies_of: Callable[[Request], Dependencies],
    *,
    metrics_guard: Callable[[Request], Awaitable[Any]] | None = None,
) -> APIRouter:
    """Serve /healthz (the process is alive), /readyz (its dependencies answer) and /metrics.

    With `metrics_guard` (production: a key with the metrics scope) /metrics answers only the
    callers it lets through.
    """
    router = APIRouter(tags=["operations"])
    metrics_dependencies = [Depends(metrics_guard)] if metrics_guard is not None else []

    @router.get("/healthz", summary="The process is alive.")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/readyz",
        summary="Ready for traffic: the database answers and the workers run (Kafka reported).",
    )
    async def readyz(request: Request) -> JSONResponse:
        """Say whether to send this instance traffic; a Kafka outage only degrades it.

        Requests are served and acknowledged through the database and the outbox, so while
        Kafka is away the instance stays ready ("degraded": 200, `kafka` false) and what it
        writes is published when Kafka is back. The outage is a signal of its own, for alerts:
        `checks.kafka` here and the `atende_kafka_reachable` gauge.
        """
        dependencies = dependencies_of(request)
        results = {
            "database": await dependencies.database_ready(),
            "kafka": await dependencies.kafka_ready(),
            "workers": await dependencies.workers_ready(),
        }
        KAFKA_REACHABLE.set(1 if results["kafka"] else 0)
        ready = results["database"] and results["workers"]
        status = "not ready" if not ready else "ready" if results["kafka"] else "degraded"
        body = {"status": status, "checks": results}
        return JSONResponse(body, status_code=200 if ready else 503)

    @router.get(
        "/metrics",
        summary="Prometheus metrics.",
        include_in_schema=False,
        dependencies=metrics_dependencies,
    )
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
        cid = safe_correlation_id(incoming.decode("latin-1") if incoming else None)
        docs = scope["path"].startswith(_DOCS_PATHS)
        token = correlation_id.set(cid)
        status = 500
        started = time.perf_counter()
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                headers = [
                    *message.get("headers", []),
                    (CORRELATION_HEADER.encode(), cid.encode("latin-1")),
                ]
                present = {name.lower() for name, _ in headers}
                headers += [
                    (name, value)
                    for name, value in SECURITY_HEADERS
                    if name not in present and not (docs and name == b"content-security-policy")
                ]
                message["headers"] = headers
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


def safe_correlation_id(incoming: str | None) -> str:
    """Keep a caller's correlation id only when it is a safe opaque token; else make a new one.

    Refused: anything beyond 64 characters of [A-Za-z0-9._:-] (so no e-mail, no spaces), and
    digits-only values (a CPF, CNPJ, card or phone number, with or without separators).
    """
    if incoming is not None and _SAFE_CORRELATION.fullmatch(incoming):
        digits = incoming.translate(_DOCUMENT_SEPARATORS)
        if not (digits.isdigit() and len(digits) >= 6):
            return incoming
    return str(uuid.uuid4())


MAX_HEADERS = 100
"""Header fields a request may carry; their total size is `http_max_header_bytes`."""


class BodyLimit:
    """Refuse request bodies beyond a size with 413 before the app (and its auth) sees them.

    The declared Content-Length is checked first; a body sent without one, or longer than
    declared, is counted while it streams in and refused as soon as it passes the limit, so at
    most `max_bytes` of a request is ever held.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        max_headers: int = MAX_HEADERS,
        max_header_bytes: int = 16 * 1024,
    ) -> None:
        self._app = app
        self._max_bytes = max_bytes
        self._max_headers = max_headers
        self._max_header_bytes = max_header_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = scope["headers"]
        if len(headers) > self._max_headers or (
            sum(len(name) + len(value) for name, value in headers) > self._max_header_bytes
        ):
            response = problem(
                431,
                "Request header fields too large",
                f"A request may carry at most {self._max_headers} header fields and "
                f"{self._max_header_bytes} bytes of them.",
            )
            await response(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self._max_bytes:
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self._max_bytes:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self._app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(
            413,
            "Request body too large",
            f"The request body exceeds {self._max_bytes} bytes.",
            max_bytes=self._max_bytes,
        )
        await response(scope, receive, send)


class _CorrelationFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self._service
        record.correlation_id = correlation_id.get()
        record.__dict__.pop("color_message", None)  # uvicorn's ANSI-coloured duplicate
        return True


class RepeatFilter(logging.Filter):
    """Let one warning or error per cause through per interval, then say how many were held.

    An outage makes every loop that meets it log the same line many times a second (a Kafka
    outage wrote 18,000 error lines in 45 s over five services); one line per cause per
    interval, carrying the count of those held back since (`repeated`), says as much.
    The cause is the logger, the level, the message template and the exception types given.
    """

    def __init__(self, interval: float = 10.0, *, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self._interval = interval
        self._clock = clock
        self._last: dict[tuple[str, int, str, tuple[str, ...]], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        args = record.args if isinstance(record.args, tuple) else ()
        errors = tuple(type(arg).__name__ for arg in args if isinstance(arg, BaseException))
        cause = (record.name, record.levelno, str(record.msg), errors)
        now = self._clock()
        passed, held = self._last.get(cause, (None, 0))
        if passed is not None and now - passed < self._interval:
            self._last[cause] = (passed, held + 1)
            return False
        if len(self._last) >= 1000:  # messages built before logging: forget the quiet ones
            self._last = {k: v for k, v in self._last.items() if now - v[0] < self._interval}
        self._last[cause] = (now, 0)
        if held:
            record.repeated = held
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
    handler.addFilter(RepeatFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn installs its own plain-text handlers before the app exists: route them through ours.
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.getLogger("aiokafka").setLevel(max(root.level, logging.WARNING))
    # httpx logs every request's URL at INFO, and survey's URLs name parties (a CPF in the path).
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(max(root.level, logging.WARNING))
