#!/usr/bin/env bash
# Start, stop and inspect the five Atende services as background uvicorn processes on 127.0.0.1.
#
# Usage: deploy/local/services.sh {start|stop|status}
# With SIMULATE=1 (the default) `start` also starts the simulator of customers and agents.
# Each service logs JSON lines to $ATENDE_RUN_DIR/logs/<service>.log and keeps its pid in
# $ATENDE_RUN_DIR/<service>.pid. Configuration comes from the environment (INTAKE_*, ROUTING_*, ...).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$SCRIPT_DIR/../.." && pwd)"
RUN_DIR="${ATENDE_RUN_DIR:-$REPO_DIR/.run}"
LOG_DIR="$RUN_DIR/logs"
VENV="${ATENDE_VENV:-$REPO_DIR/.venv}"
READY_TIMEOUT=60
STOP_TIMEOUT=30

# service:port, in start order (consumers before producers does not matter: topics persist).
SERVICES=(intake:8001 routing:8002 sla:8003 survey:8004 analytics:8005)

# A development profile: survey delivers to the simulator's SMTP server and SMS/WhatsApp webhook
# and sends links seconds (not an hour) after resolution, so a demo shows NPS within minutes.
export SURVEY_SMTP_PORT="${SURVEY_SMTP_PORT:-8025}"
export SURVEY_MESSAGE_WEBHOOK_URL="${SURVEY_MESSAGE_WEBHOOK_URL:-http://127.0.0.1:8026/messages}"
export SURVEY_DISPATCH_DELAY="${SURVEY_DISPATCH_DELAY:-PT20S}"

log() { printf '[services] %s\n' "$*"; }
die() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }

pid_of() { # <service> -> pid of a live process, or nothing
  local file="$RUN_DIR/$1.pid" pid
  [[ -f "$file" ]] || return 0
  pid="$(cat "$file")"
  if kill -0 "$pid" 2>/dev/null; then echo "$pid"; fi
}

healthy() { # <port>
  curl -fsS --max-time 2 "http://127.0.0.1:$1/healthz" >/dev/null 2>&1
}

start_one() { # <service> <port>
  local service="$1" port="$2" pid
  pid="$(pid_of "$service")"
  if [[ -n "$pid" ]]; then
    log "$service already running (pid $pid, http://127.0.0.1:$port)"
    return 0
  fi
  if healthy "$port" || (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "port $port (for $service) is taken by another program; stop it and run 'make run' again"
  fi
  mkdir -p "$LOG_DIR"
  # setsid: the service outlives this script and a Ctrl-C in the terminal that ran `make run`.
  setsid nohup "$VENV/bin/uvicorn" "$service.main:create_app" --factory \
    --host 127.0.0.1 --port "$port" --no-access-log --timeout-graceful-shutdown 20 \
    >>"$LOG_DIR/$service.log" 2>&1 </dev/null &
  echo $! >"$RUN_DIR/$service.pid"
}

wait_ready() { # <service> <port>
  local service="$1" port="$2" waited=0
  until healthy "$port"; do
    if [[ -z "$(pid_of "$service")" ]]; then
      tail -n 30 "$LOG_DIR/$service.log" >&2 || true
      die "$service exited during start-up; its log is $LOG_DIR/$service.log (last lines above)"
    fi
    if ((waited >= READY_TIMEOUT)); then
      die "$service did not answer /healthz within ${READY_TIMEOUT}s; see $LOG_DIR/$service.log"
    fi
    sleep 1
    waited=$((waited + 1))
  done
}

start() {
  [[ -x "$VENV/bin/uvicorn" ]] || die "no virtualenv at $VENV: run 'make venv' first"
  local entry
  for entry in "${SERVICES[@]}"; do start_one "${entry%%:*}" "${entry##*:}"; done
  for entry in "${SERVICES[@]}"; do wait_ready "${entry%%:*}" "${entry##*:}"; done
  log "all five services answer /healthz"
  if [[ "${SIMULATE:-1}" == 1 ]]; then start_simulator; fi
}

start_simulator() {
  local pid
  pid="$(pid_of simulator)"
  if [[ -n "$pid" ]]; then
    log "simulator already running (pid $pid)"
    return 0
  fi
  (cd "$REPO_DIR" && setsid nohup "$VENV/bin/python" -m simulator \
    >>"$LOG_DIR/simulator.log" 2>&1 </dev/null &
    echo $! >"$RUN_DIR/simulator.pid")
  log "simulator started (log: $LOG_DIR/simulator.log; SIMULATE=0 make run starts without it)"
}

stop() {
  local entry service pid waited
  # The simulator first, so that it does not post to services that are going away.
  for entry in simulator "${SERVICES[@]}"; do
    service="${entry%%:*}"
    pid="$(pid_of "$service")"
    [[ -n "$pid" ]] || { rm -f "$RUN_DIR/$service.pid"; continue; }
    # SIGTERM: uvicorn drains requests, then the lifespan stops consumers and the relay cleanly.
    kill -TERM "$pid"
    waited=0
    while kill -0 "$pid" 2>/dev/null && ((waited < STOP_TIMEOUT * 10)); do
      sleep 0.1
      waited=$((waited + 1))
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "$service did not stop within ${STOP_TIMEOUT}s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$RUN_DIR/$service.pid"
    log "$service stopped"
  done
}

status() {
  local entry service port pid ready
  for entry in "${SERVICES[@]}"; do
    service="${entry%%:*}"
    port="${entry##*:}"
    pid="$(pid_of "$service")"
    if [[ -z "$pid" ]]; then
      printf '%-10s stopped\n' "$service:"
      continue
    fi
    ready="$(curl -s --max-time 5 "http://127.0.0.1:$port/readyz" || echo 'no answer')"
    printf '%-10s running  http://127.0.0.1:%s  pid %s  readyz %s\n' "$service:" "$port" "$pid" "$ready"
  done
  pid="$(pid_of simulator)"
  printf '%-10s %s\n' "simulator:" "${pid:+running  pid $pid}${pid:-stopped}"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) die "usage: $0 {start|stop|status}" ;;
esac
