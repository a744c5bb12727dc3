#!/bin/sh
# Entry point of every Atende image: `serve` (default), `migrate`, or `create-topics`.
set -eu
case "${1:-serve}" in
  serve)
    # exec: uvicorn replaces the shell as PID 1 and gets SIGTERM itself, so it drains cleanly.
    # atende_events.serve: uvicorn with the connection and header limits of the service's settings.
    exec python -m atende_events.serve "${SERVICE}.main:create_app" --host 0.0.0.0 --port "${PORT}"
    ;;
  migrate)
    exec alembic -c /app/alembic.ini upgrade head
    ;;
  create-topics)
    shift
    exec python -m atende_events.admin create-topics "$@"
    ;;
  *)
    exec "$@"
    ;;
esac
