#!/bin/sh
# Entry point of every Atende image: `serve` (default), `migrate`, or `create-topics`.
set -eu
case "${1:-serve}" in
  serve)
    # exec: uvicorn replaces the shell as PID 1 and gets SIGTERM itself, so it drains cleanly.
    exec uvicorn "${SERVICE}.main:create_app" --factory --host 0.0.0.0 --port "${PORT}" \
      --no-access-log --timeout-graceful-shutdown 20
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
