#!/usr/bin/env bash
# Start, stop and inspect the five Atende services as background uvicorn processes on 127.0.0.1,
# and the simulator of customers, agents and survey respondents beside them.
#
# Usage: deploy/local/services.sh {start|stop [NAME...]|status|migrate|env|banner}
#   start    start what is not running yet (idempotent); SIMULATE=0 leaves the simulator out
#   stop     stop the simulator and the services (or only the NAMEs given, e.g. `stop simulator`)
#   status   one line per process, with each service's /readyz answer
#   migrate  upgrade every service's database to its newest migration
#   env      print the configuration the services get, as shell export lines
#   banner   print the addresses of the dashboard and of each API's docs, and the dev API keys
#
# Each process logs to $ATENDE_RUN_DIR/logs/<name>.log and keeps its pid in $ATENDE_RUN_DIR/<name>.pid.
#
# Environment (all optional; a variable set explicitly always wins):
#   ATENDE_RUN_DIR                  pids and logs                            (default <repo>/.run)
#   KAFKA_PORT, PG_PORT             ports of the local Kafka and PostgreSQL (deploy/local/infra.sh)
#   ATENDE_KAFKA_BOOTSTRAP,         the same as the Makefile exports them; used when KAFKA_PORT or
#     ATENDE_PG_PORT                PG_PORT is not set; otherwise the ports infra.sh remembers
#   <SERVICE>_KAFKA_BOOTSTRAP,      one service's servers (SERVICE = INTAKE, ROUTING, SLA, SURVEY,
#     <SERVICE>_DATABASE_URL        ANALYTICS)                               (derived from the above)
#   INTAKE_PORT ... ANALYTICS_PORT  HTTP ports                               (8001 ... 8005)
#   SIMULATE                        1 starts the simulator                   (1)
#   SIM_SMTP_PORT, SIM_WEBHOOK_PORT the simulator's SMTP sink and SMS/WhatsApp webhook, where survey
#                                   delivers links                           (8025, 8026)
#   SIM_RATE, SIM_AGENTS, ...       the simulator's profile: `.venv/bin/python -m simulator --help`
#   SURVEY_DISPATCH_DELAY           how long after a resolution the link goes (PT20S here)
#   <SERVICE>_ENVIRONMENT           development here (the services' own default is production)
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$SCRIPT_DIR/../.." && pwd)"
RUN_DIR="${ATENDE_RUN_DIR:-$REPO_DIR/.run}"
LOG_DIR="$RUN_DIR/logs"
VENV="${ATENDE_VENV:-$REPO_DIR/.venv}"
READY_TIMEOUT=90
STOP_TIMEOUT=30

SERVICES=(intake routing sla survey analytics)
declare -A DEFAULT_PORT=([intake]=8001 [routing]=8002 [sla]=8003 [survey]=8004 [analytics]=8005)

log() { printf '[services] %s\n' "$*"; }
die() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------------
# Configuration: every service and the simulator get the servers and ports of this run
# ---------------------------------------------------------------------------------------------------
set_default() { # <variable> <value>: export the variable, keeping a value the caller set
  if [[ -z "${!1:-}" ]]; then printf -v "$1" '%s' "$2"; fi
  export "${1?}"
}

# Ports chosen at the last `start` are remembered, so that `status` and `banner` agree with services
# started on other ports even when the variables are no longer set (as infra.sh does).
PORTS_FILE="$RUN_DIR/services.ports"
PORT_VARIABLES=(INTAKE_PORT ROUTING_PORT SLA_PORT SURVEY_PORT ANALYTICS_PORT SIM_SMTP_PORT SIM_WEBHOOK_PORT)

remembered() { # <variable> <default>
  local saved=""
  [[ -f "$PORTS_FILE" ]] && saved="$(sed -n "s/^$1=\([0-9]*\)\$/\1/p" "$PORTS_FILE" | tail -n 1)"
  printf '%s' "${saved:-$2}"
}

remember_ports() {
  local var
  mkdir -p "$RUN_DIR"
  for var in "${PORT_VARIABLES[@]}"; do printf '%s=%s\n' "$var" "${!var}"; done >"$PORTS_FILE"
}

port_of() { # <service>
  local var="${1^^}_PORT"
  printf '%s' "${!var}"
}

configure() {
  local infra kafka pg service upper
  # infra.sh knows the ports of the servers it runs (KAFKA_PORT/PG_PORT, else the remembered ones).
  infra="$(bash "$SCRIPT_DIR/infra.sh" env)"
  if [[ -n "${KAFKA_PORT:-}" ]]; then
    kafka="127.0.0.1:$KAFKA_PORT"
  else
    kafka="${ATENDE_KAFKA_BOOTSTRAP:-$(sed -n 's/^export ATENDE_KAFKA_BOOTSTRAP=//p' <<<"$infra")}"
  fi
  pg="${PG_PORT:-${ATENDE_PG_PORT:-$(sed -n 's/^export ATENDE_PG_PORT=//p' <<<"$infra")}}"
  for service in "${SERVICES[@]}"; do
    upper="${service^^}"
    set_default "${upper}_KAFKA_BOOTSTRAP" "$kafka"
    set_default "${upper}_DATABASE_URL" "postgresql+asyncpg://atende:atende@127.0.0.1:$pg/$service"
    set_default "${upper}_PORT" "$(remembered "${upper}_PORT" "${DEFAULT_PORT[$service]}")"
    # The services default to production, which refuses the dev- keys and the atende password.
    set_default "${upper}_ENVIRONMENT" development
  done
  # Survey reaches intake, and its links point at itself.
  set_default SURVEY_INTAKE_BASE_URL "http://127.0.0.1:$INTAKE_PORT"
  set_default SURVEY_PUBLIC_BASE_URL "http://127.0.0.1:$SURVEY_PORT"
  # A development profile: survey delivers to the simulator's SMTP server and SMS/WhatsApp webhook
  # and sends links seconds (not an hour) after resolution, so a demo shows NPS within minutes.
  set_default SIM_SMTP_PORT "${SURVEY_SMTP_PORT:-$(remembered SIM_SMTP_PORT 8025)}"
  set_default SURVEY_SMTP_PORT "$SIM_SMTP_PORT"
  set_default SURVEY_SMTP_STARTTLS false # the simulator's sink speaks plain SMTP on loopback
  set_default SIM_WEBHOOK_PORT "$(remembered SIM_WEBHOOK_PORT 8026)"
  set_default SURVEY_MESSAGE_WEBHOOK_URL "http://127.0.0.1:$SIM_WEBHOOK_PORT/messages"
  set_default SURVEY_DISPATCH_DELAY PT20S
  set_default SIM_INTAKE_URL "http://127.0.0.1:$INTAKE_PORT"
  set_default SIM_ROUTING_URL "http://127.0.0.1:$ROUTING_PORT"
}

print_env() {
  local service upper var
  for service in "${SERVICES[@]}"; do
    upper="${service^^}"
    for var in "${upper}_PORT" "${upper}_KAFKA_BOOTSTRAP" "${upper}_DATABASE_URL" "${upper}_ENVIRONMENT"; do
      printf 'export %s=%q\n' "$var" "${!var}"
    done
  done
  for var in SURVEY_INTAKE_BASE_URL SURVEY_PUBLIC_BASE_URL SURVEY_SMTP_PORT SURVEY_SMTP_STARTTLS \
      SURVEY_MESSAGE_WEBHOOK_URL SURVEY_DISPATCH_DELAY SIM_INTAKE_URL SIM_ROUTING_URL \
      SIM_SMTP_PORT SIM_WEBHOOK_PORT; do
    printf 'export %s=%q\n' "$var" "${!var}"
  done
}

# ---------------------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------------------
# What the command line of each process contains, so that a pid file left behind by a crash is
# never taken for a live process whose pid the system has since reused.
signature() { # <name>
  if [[ "$1" == simulator ]]; then printf -- '-m simulator'; else printf '%s.main:create_app' "$1"; fi
}

is_ours() { # <name> <pid>
  local cmdline
  kill -0 "$2" 2>/dev/null || return 1
  cmdline="$(tr '\0' ' ' <"/proc/$2/cmdline" 2>/dev/null)" || return 1
  [[ "$cmdline" == *"$(signature "$1")"* ]]
}

pid_of() { # <name> -> pid of our live process, or nothing
  local file="$RUN_DIR/$1.pid" pid child
  [[ -f "$file" ]] || return 0
  pid="$(tr -d '[:space:]' <"$file")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  if is_ours "$1" "$pid"; then
    echo "$pid"
    return 0
  fi
  # An earlier version of this script recorded the shell that started the simulator, not the
  # simulator itself: look one level down, so that `stop` still ends it.
  for child in $(ps -o pid= --ppid "$pid" 2>/dev/null || true); do
    if is_ours "$1" "$child"; then
      echo "$child"
      return 0
    fi
  done
}

healthy() { # <port>
  curl -fsS --max-time 2 "http://127.0.0.1:$1/healthz" >/dev/null 2>&1
}

port_taken() { # <port>
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

launch() { # <name> <command...>: start a detached process logging to <name>.log; record its pid
  local name="$1"
  shift
  mkdir -p "$LOG_DIR"
  # setsid: the process outlives this script and a Ctrl-C in the terminal that ran `make run`.
  # No subshell around it: $! must be the process itself, or `stop` would signal a shell.
  setsid nohup "$@" >>"$LOG_DIR/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN_DIR/$name.pid"
}

start_service() { # <service>: 0 when started now, 1 when it was running already
  local service="$1" port pid
  port="$(port_of "$service")"
  pid="$(pid_of "$service")"
  if [[ -n "$pid" ]]; then
    log "$service already running (pid $pid, http://127.0.0.1:$port)"
    return 1
  fi
  if port_taken "$port"; then
    die "port $port (for $service) is taken by another program; stop it, or choose another port with ${service^^}_PORT=<port> make run"
  fi
  # uvicorn with the connection limits of the service's settings (atende_events.serve).
  launch "$service" "$VENV/bin/python" -m atende_events.serve "$service.main:create_app" \
    --host 127.0.0.1 --port "$port"
}

wait_ready() { # <service...>: wait until each answers /healthz, printing progress
  local service port waited=0 pending=("$@") still
  printf '[services] waiting for %s ' "${pending[*]}"
  while ((${#pending[@]})); do
    still=()
    for service in "${pending[@]}"; do
      port="$(port_of "$service")"
      healthy "$port" && continue
      if [[ -z "$(pid_of "$service")" ]]; then
        printf '\n'
        tail -n 30 "$LOG_DIR/$service.log" >&2 || true
        die "$service exited during start-up; its log is $LOG_DIR/$service.log (last lines above)"
      fi
      still+=("$service")
    done
    pending=("${still[@]}")
    ((${#pending[@]})) || break
    if ((waited >= READY_TIMEOUT * 2)); then
      printf '\n'
      die "${pending[*]} did not answer /healthz within ${READY_TIMEOUT}s; see $LOG_DIR/<service>.log"
    fi
    sleep 0.5
    waited=$((waited + 1))
    ((waited % 4 == 0)) && printf '.'
  done
  printf ' ready (%ss)\n' "$((waited / 2))"
}

start() {
  [[ -x "$VENV/bin/uvicorn" ]] || die "no virtualenv at $VENV: run 'make venv' first"
  local service started=()
  remember_ports
  for service in "${SERVICES[@]}"; do
    if start_service "$service"; then started+=("$service"); fi
  done
  if ((${#started[@]})); then wait_ready "${started[@]}"; fi
  log "all five services answer /healthz"
  if [[ "${SIMULATE:-1}" == 1 ]]; then start_simulator; fi
}

start_simulator() {
  local pid port
  pid="$(pid_of simulator)"
  if [[ -n "$pid" ]]; then
    log "simulator already running (pid $pid)"
    return 0
  fi
  for port in "$SIM_SMTP_PORT" "$SIM_WEBHOOK_PORT"; do
    if port_taken "$port"; then
      die "port $port (for the simulator) is taken by another program; stop it, or choose others with SIM_SMTP_PORT / SIM_WEBHOOK_PORT"
    fi
  done
  # PYTHONPATH: the simulator is a package of the repository, not installed in the virtualenv.
  PYTHONPATH="$REPO_DIR${PYTHONPATH:+:$PYTHONPATH}" launch simulator "$VENV/bin/python" -m simulator
  log "simulator started (log: $LOG_DIR/simulator.log; SIMULATE=0 make run starts without it)"
}

stop_one() { # <name>
  local name="$1" pid waited=0
  pid="$(pid_of "$name")"
  if [[ -z "$pid" ]]; then
    rm -f "$RUN_DIR/$name.pid"
    return 0
  fi
  # SIGTERM: uvicorn drains requests, then the lifespan stops consumers and the relay cleanly.
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null && ((waited < STOP_TIMEOUT * 10)); do
    sleep 0.1
    waited=$((waited + 1))
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name did not stop within ${STOP_TIMEOUT}s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$RUN_DIR/$name.pid"
  log "$name stopped"
}

stop() {
  local name
  if (($#)); then
    for name in "$@"; do stop_one "$name"; done
    return 0
  fi
  # The simulator first, so that it does not post to services that are going away.
  for name in simulator "${SERVICES[@]}"; do stop_one "$name"; done
}

status() {
  local service port pid ready
  for service in "${SERVICES[@]}"; do
    port="$(port_of "$service")"
    pid="$(pid_of "$service")"
    if [[ -z "$pid" ]]; then
      printf '%-10s stopped\n' "$service:"
      continue
    fi
    ready="$(curl -s --max-time 5 "http://127.0.0.1:$port/readyz" || echo 'no answer')"
    printf '%-10s running  http://127.0.0.1:%s  pid %s  readyz %s\n' "$service:" "$port" "$pid" "$ready"
  done
  pid="$(pid_of simulator)"
  if [[ -n "$pid" ]]; then
    printf '%-10s running  pid %s  (SMTP 127.0.0.1:%s, webhook 127.0.0.1:%s)\n' \
      "simulator:" "$pid" "$SIM_SMTP_PORT" "$SIM_WEBHOOK_PORT"
  else
    printf '%-10s stopped\n' "simulator:"
  fi
}

banner() {
  ATENDE_SIMULATOR_PID="$(pid_of simulator)" "$VENV/bin/python" "$SCRIPT_DIR/banner.py"
}

migrate() {
  [[ -x "$VENV/bin/python" ]] || die "no virtualenv at $VENV: run 'make venv' first"
  local service since=$SECONDS failed=()
  local -A pids=()
  mkdir -p "$LOG_DIR/migrate"
  printf '[services] migrating the databases of %s ' "${SERVICES[*]}"
  # One Alembic per database, side by side: each spends seconds importing before it connects.
  # Alembic reads <SERVICE>_DATABASE_URL, which configure() derived from this run's PostgreSQL.
  for service in "${SERVICES[@]}"; do
    (cd "$REPO_DIR/services/$service" && exec "$VENV/bin/python" -m alembic upgrade head) \
      >"$LOG_DIR/migrate/$service.log" 2>&1 &
    pids[$service]=$!
  done
  for service in "${SERVICES[@]}"; do
    if ! wait "${pids[$service]}"; then failed+=("$service"); fi
  done
  if ((${#failed[@]})); then
    printf '\n'
    for service in "${failed[@]}"; do
      printf -- '----- %s -----\n' "$LOG_DIR/migrate/$service.log" >&2
      tail -n 30 "$LOG_DIR/migrate/$service.log" >&2 || true
    done
    die "migrating ${failed[*]} failed (logs above; the database URL is <SERVICE>_DATABASE_URL)"
  fi
  printf 'done (%ss)\n' "$((SECONDS - since))"
}

command="${1:-}"
shift || true
configure
case "$command" in
  start) start ;;
  stop) stop "$@" ;;
  status) status ;;
  migrate) migrate ;;
  env) print_env ;;
  banner) banner ;;
  *) die "usage: $0 {start|stop [NAME...]|status|migrate|env|banner}" ;;
esac
