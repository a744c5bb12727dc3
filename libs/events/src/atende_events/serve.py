"""Serve a service with uvicorn, its connection limits taken from the service's own settings.

`python -m atende_events.serve intake.main:create_app --host 127.0.0.1 --port 8001` is what
`make run` and the container image run. Against slow or greedy clients: at most
`HTTP_LIMIT_CONCURRENCY` connections and requests at once (503 beyond), idle keep-alive
connections closed after `HTTP_TIMEOUT_KEEP_ALIVE` seconds. The parser is httptools (uvicorn's
default when installed; llhttp refuses a request line and headers over 80 KiB): h11, whose buffer
`HTTP_MAX_HEADER_BYTES` would bound, is pure Python and costs a large share of a request's CPU.
The body limit, the header count and total (431 over `HTTP_MAX_HEADER_BYTES`) are the app's own
(atende_events.web.BodyLimit), so they hold however the app is served.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

import uvicorn

from atende_events.settings import ServiceSettings


def main(argv: Sequence[str] | None = None) -> None:
    """Read the service's settings, then serve its app until SIGTERM drains it."""
    parser = argparse.ArgumentParser(prog="python -m atende_events.serve")
    parser.add_argument("app", help="<service>.main:create_app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    service = args.app.partition(".")[0]
    settings: ServiceSettings = importlib.import_module(f"{service}.config").Settings()
    uvicorn.run(
        args.app,
        factory=True,
        host=args.host,
        port=args.port,
        access_log=False,
        timeout_graceful_shutdown=20,
        limit_concurrency=settings.http_limit_concurrency,
        timeout_keep_alive=settings.http_timeout_keep_alive,
        h11_max_incomplete_event_size=settings.http_max_header_bytes,
    )


if __name__ == "__main__":
    main()
