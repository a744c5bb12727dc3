#!/usr/bin/env bash
# Local infrastructure for Atende: Apache Kafka (KRaft, combined broker+controller nodes, jars from
# Maven Central; one node, or a cluster of several) and one PostgreSQL cluster, both project-local
# under $ATENDE_RUN_DIR (default <repo>/.run), all listening on 127.0.0.1 only. Data survives
# down/up; `clean` wipes it.
#
# Usage: deploy/local/infra.sh {up|down|status|env|clean|kafka-up|kafka-down|pg-up|pg-down} [BROKERS]
#        deploy/local/infra.sh {kafka-node-up|kafka-node-down} N
# BROKERS (or KAFKA_BROKERS) is how many Kafka nodes to run: 1 (default) or e.g. 3, a cluster on
# loopback whose topics can be replicated 3 times with min.insync.replicas 2
# (ATENDE_TOPIC_REPLICATION_FACTOR=3 ATENDE_TOPIC_MIN_INSYNC_REPLICAS=2 make topics).
#
# Environment (all optional):
#   ATENDE_RUN_DIR         state, data and logs              (default <repo>/.run)
#   ATENDE_CACHE_DIR       jar cache, outside git            (default ${XDG_CACHE_HOME:-~/.cache}/atende)
#                          jars go to $ATENDE_CACHE_DIR/kafka-<version>/lib
#   KAFKA_PORT             broker listener                   (default 19092)
#   KAFKA_CONTROLLER_PORT  KRaft controller listener         (default 19093)
#   KAFKA_BROKERS          Kafka nodes                       (default 1; node n of a cluster listens
#                          on KAFKA_PORT+2(n-1) and KAFKA_CONTROLLER_PORT+2(n-1))
#   PG_PORT                PostgreSQL                        (default 15432)
# Ports (and the broker count) chosen at the last successful start are remembered, so
# `env`/`status`/`down` agree with a server started with non-default ports even when the variables
# are no longer set.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$SCRIPT_DIR/../.." && pwd)"
POM="$SCRIPT_DIR/kafka/pom.xml"

RUN_DIR="${ATENDE_RUN_DIR:-$REPO_DIR/.run}"
mkdir -p "$RUN_DIR"
RUN_DIR="$(cd "$RUN_DIR" && pwd)"   # Kafka's log.dirs and PostgreSQL both need an absolute path.
LOG_DIR="$RUN_DIR/logs"

KAFKA_DIR="$RUN_DIR/kafka"
KAFKA_DATA="$KAFKA_DIR/data"
KAFKA_PID_FILE="$RUN_DIR/kafka.pid"
KAFKA_LOG_DIR="$LOG_DIR/kafka"
KAFKA_READY_TIMEOUT=90   # seconds without progress in the broker's log
KAFKA_READY_LIMIT=900    # seconds in all
KAFKA_STOP_TIMEOUT=30

PG_DIR="$RUN_DIR/pg"
PG_DATA="$PG_DIR/data"
PG_SOCKET_DIR="$PG_DIR/socket"
PG_LOG_DIR="$LOG_DIR/pg"
PG_OS_USER=postgres
PG_ROLE=atende
PG_PASSWORD=atende
PG_DATABASES=(intake routing sla survey analytics)

# ---------------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------------
log() { printf '[infra] %s\n' "$*"; }
warn() { printf '[infra] WARNING: %s\n' "$*" >&2; }
die() { printf '[infra] ERROR: %s\n' "$*" >&2; exit 1; }

# True when something accepts TCP connections on 127.0.0.1:<port>. Uses bash's /dev/tcp so that no
# extra tool is needed; `timeout` keeps a filtered port from hanging us.
port_open() {
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# True while <pid> exists and is not a zombie (an orphan may stay a zombie where PID 1 does not reap).
proc_alive() {
  local state
  kill -0 "$1" 2>/dev/null || return 1
  state="$(sed -n 's/^.*) \(.\).*$/\1/p' "/proc/$1/stat" 2>/dev/null)" || return 1
  [[ "$state" != Z ]]
}

# One line describing who listens on a port, for error messages (best effort: ss may be missing).
port_owner() {
  if command -v ss >/dev/null 2>&1; then
    ss -ltnpH "sport = :$1" 2>/dev/null | head -n 1 | tr -s ' '
  fi
}

require_free_port() { # <port> <what> <variable to change it>
  if port_open "$1"; then
    local owner
    owner="$(port_owner "$1")"
    die "port $1 on 127.0.0.1 (needed for $2) is already in use by another program${owner:+ ($owner)}.
        Stop that program, or pick another port, e.g.: $3=<free port> $0 ${COMMAND}
        (the port is remembered for later commands; '$0 env' prints what clients need)."
  fi
}

# Last lines of one or more log files, to show why something did not start.
show_log_tail() {
  local f
  for f in "$@"; do
    [[ -s "$f" ]] || continue
    printf '\n----- last 30 lines of %s -----\n' "$f" >&2
    tail -n 30 "$f" >&2
  done
  printf -- '-----\n' >&2
}

# Remembered ports: explicit environment variable > value saved at the last start > default.
saved_value() { # <file> <key>
  [[ -f "$1" ]] && sed -n "s/^$2=\\([0-9]*\\)\$/\\1/p" "$1" | tail -n 1
  return 0
}
resolve_ports() {
  local saved
  saved="$(saved_value "$KAFKA_DIR/ports.env" KAFKA_PORT)"
  KAFKA_PORT="${KAFKA_PORT:-${saved:-19092}}"
  saved="$(saved_value "$KAFKA_DIR/ports.env" KAFKA_CONTROLLER_PORT)"
  KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-${saved:-19093}}"
  saved="$(saved_value "$RUN_DIR/pg.port.env" PG_PORT)"
  PG_PORT="${PG_PORT:-${saved:-15432}}"
  saved="$(saved_value "$KAFKA_DIR/ports.env" KAFKA_BROKERS)"
  KAFKA_BROKERS="${KAFKA_BROKERS:-${saved:-1}}"
  [[ "$KAFKA_BROKERS" =~ ^[1-9]$ ]] || die "invalid KAFKA_BROKERS '$KAFKA_BROKERS': a number of Kafka nodes, 1-9."
  local p n all=" "
  for p in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" "$PG_PORT"; do
    if ! [[ "$p" =~ ^[0-9]+$ ]] || ((p < 1 || p > 65535)); then
      die "invalid port '$p': ports must be numbers 1-65535."
    fi
  done
  [[ "$KAFKA_PORT" != "$KAFKA_CONTROLLER_PORT" ]] || die "KAFKA_PORT and KAFKA_CONTROLLER_PORT must differ."
  for ((n = 0; n < KAFKA_BROKERS; n++)); do
    for p in $((KAFKA_PORT + 2 * n)) $((KAFKA_CONTROLLER_PORT + 2 * n)); do
      ((p <= 65535)) || die "Kafka node $((n + 1)) would listen on port $p, beyond 65535; lower KAFKA_PORT / KAFKA_CONTROLLER_PORT."
      [[ "$all" != *" $p "* ]] || die "Kafka ports collide at $p: with KAFKA_BROKERS=$KAFKA_BROKERS node n listens on KAFKA_PORT+2(n-1) and KAFKA_CONTROLLER_PORT+2(n-1); pick ports whose parity differs (e.g. 19092 and 19093)."
      all+="$p "
    done
  done
}

# Serialise concurrent invocations (e.g. two test runs starting the infra at the same moment).
# The servers we spawn must not inherit fd 9 (they would hold the lock forever): see `9>&-` below.
take_lock() {
  command -v flock >/dev/null 2>&1 || return 0
  exec 9>"$RUN_DIR/.infra.lock"
  flock -w 180 9 || die "another infra.sh is still running (lock $RUN_DIR/.infra.lock); wait for it or remove the lock."
}

# ---------------------------------------------------------------------------------------------------
# Kafka
# ---------------------------------------------------------------------------------------------------
kafka_version() {
  local v
  v="$(sed -n 's:.*<kafka\.version>\(.*\)</kafka\.version>.*:\1:p' "$POM" | head -n 1)"
  [[ -n "$v" ]] || die "could not read <kafka.version> from $POM; restore that file from git."
  printf '%s' "$v"
}

kafka_paths() {
  KAFKA_VERSION="$(kafka_version)"
  local cache_root="${ATENDE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/atende}"
  KAFKA_CACHE="$cache_root/kafka-$KAFKA_VERSION"
  KAFKA_LIB="$KAFKA_CACHE/lib"
}

# Picks java ($JAVA_HOME first, like Kafka's own scripts) and insists on 17+ (the broker's target).
find_java() {
  if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
    JAVA="$JAVA_HOME/bin/java"
  elif command -v java >/dev/null 2>&1; then
    JAVA="$(command -v java)"
  else
    die "java not found. Kafka $KAFKA_VERSION needs Java 17 or newer:
        install it (Debian: apt-get install -y openjdk-17-jre-headless) or set JAVA_HOME."
  fi
  local version major
  version="$("$JAVA" -version 2>&1 | sed -n 's/.* version "\([^"]*\)".*/\1/p' | head -n 1)"
  major="${version%%.*}"
  [[ "$major" == 1 ]] && major="$(cut -d. -f2 <<<"$version")"   # "1.8.0_392" means Java 8
  [[ "$major" =~ ^[0-9]+$ ]] || die "could not tell the version of $JAVA ('$version'); Kafka needs Java 17+."
  ((major >= 17)) || die "$JAVA is Java $version; Kafka $KAFKA_VERSION needs Java 17 or newer:
        install it (Debian: apt-get install -y openjdk-17-jre-headless) and put it first on PATH or set JAVA_HOME."
}

# The cache is complete when the marker exists and was written for this exact pom (a changed pom,
# e.g. new logging pins at the same Kafka version, triggers a new download).
pom_digest() { sha256sum "$POM" | cut -d' ' -f1; }
kafka_cache_complete() {
  [[ -f "$KAFKA_CACHE/.complete" && "$(cat "$KAFKA_CACHE/.complete")" == "$(pom_digest)" ]] \
    && compgen -G "$KAFKA_LIB/kafka_2.13-*.jar" >/dev/null
}

kafka_fetch_jars() {
  if kafka_cache_complete; then
    return 0
  fi
  command -v mvn >/dev/null 2>&1 \
    || die "mvn not found; it is needed once to download Kafka $KAFKA_VERSION: install Maven (Debian: apt-get install -y maven)."
  mkdir -p "$KAFKA_CACHE" "$KAFKA_LOG_DIR"
  local mvn_log="$KAFKA_LOG_DIR/mvn.log" tmp="$KAFKA_CACHE/lib.partial.$$"
  log "downloading Kafka $KAFKA_VERSION jars into $KAFKA_LIB (once; log: $mvn_log)"
  rm -rf "$tmp"
  # Copy into a scratch dir and rename at the end, so an interrupted download never looks complete.
  if ! mvn -B -q -Dstyle.color=never -f "$POM" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$tmp" >"$mvn_log" 2>&1; then
    rm -rf "$tmp"
    # (Maven 3.8 prints colour resets even in batch mode; strip them.)
    tail -n 20 "$mvn_log" | sed 's/\x1b\[[0-9;]*m//g' >&2 || true
    die "Maven could not download Kafka $KAFKA_VERSION from Maven Central: check network/proxy
        (Maven settings in ~/.m2/settings.xml); see $mvn_log"
  fi
  rm -rf "$KAFKA_LIB"
  mv "$tmp" "$KAFKA_LIB"
  pom_digest >"$KAFKA_CACHE/.complete"
  log "cached $(find "$KAFKA_LIB" -name '*.jar' | wc -l) jars"
}

# One node (broker+controller) at a time: kafka_node <n> points these at node n, so that every
# function below serves the single local broker and each node of a local cluster alike.
#   KAFKA_BROKERS=1 (default): node 1 lives in $KAFKA_DIR (data, server.properties), pid kafka.pid,
#     logs $LOG_DIR/kafka, ports KAFKA_PORT and KAFKA_CONTROLLER_PORT: the layout of earlier versions.
#   KAFKA_BROKERS=3: node n lives in $KAFKA_DIR/node-n, pid kafka-n.pid, logs $LOG_DIR/kafka/node-n,
#     broker port KAFKA_PORT+2(n-1) and controller port KAFKA_CONTROLLER_PORT+2(n-1) (19092/19093,
#     19094/19095, 19096/19097 by default); the three controllers form the KRaft quorum.
kafka_node() { # <n>
  NODE="$1"
  NODE_PORT=$((KAFKA_PORT + 2 * (NODE - 1)))
  NODE_CPORT=$((KAFKA_CONTROLLER_PORT + 2 * (NODE - 1)))
  if ((KAFKA_BROKERS == 1)); then
    NODE_DIR="$KAFKA_DIR"
    NODE_PID_FILE="$KAFKA_PID_FILE"
    NODE_LOG_DIR="$KAFKA_LOG_DIR"
    NODE_NAME="Kafka"
  else
    NODE_DIR="$KAFKA_DIR/node-$NODE"
    NODE_PID_FILE="$RUN_DIR/kafka-$NODE.pid"
    NODE_LOG_DIR="$KAFKA_LOG_DIR/node-$NODE"
    NODE_NAME="Kafka node $NODE"
  fi
  NODE_DATA="$NODE_DIR/data"
}

kafka_nodes() { seq 1 "$KAFKA_BROKERS"; }

# Every node's client address, as clients take them (bootstrap.servers).
kafka_bootstrap() {
  local n list=""
  for n in $(kafka_nodes); do
    list+="${list:+,}127.0.0.1:$((KAFKA_PORT + 2 * (n - 1)))"
  done
  printf '%s' "$list"
}

# JVM flags of Kafka's own start scripts, with a heap sized for a dev box.
kafka_jvm_opts() {
  KAFKA_JVM_OPTS=(-Xms256m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15
    -Djava.awt.headless=true -Dlog4j2.configurationFile="$NODE_DIR/log4j2.properties"
    -Dkafka.logs.dir="$NODE_LOG_DIR")
}

# Runs a Kafka main class with the cached jars. The classpath wildcard is expanded by the JVM, so it
# must stay quoted.
kafka_java() {
  "$JAVA" "${KAFKA_JVM_OPTS[@]}" -cp "$KAFKA_LIB/*" "$@"
}

kafka_write_config() {
  mkdir -p "$NODE_DIR" "$NODE_DATA" "$NODE_LOG_DIR"
  local quorum replicas min_isr n
  if ((KAFKA_BROKERS == 1)); then
    quorum="controller.quorum.bootstrap.servers=127.0.0.1:$NODE_CPORT"
    replicas=1
    min_isr=1
  else
    quorum="controller.quorum.voters="
    for n in $(kafka_nodes); do
      quorum+="$n@127.0.0.1:$((KAFKA_CONTROLLER_PORT + 2 * (n - 1))),"
    done
    quorum="${quorum%,}"
    replicas="$KAFKA_BROKERS"
    min_isr=$((KAFKA_BROKERS >= 3 ? 2 : 1))
  fi
  # Regenerated on every start so that edits here (and port changes) take effect.
  cat >"$NODE_DIR/server.properties" <<EOF
# Generated by deploy/local/infra.sh on every start; edit the script, not this file.
# A combined KRaft node (broker + controller) on loopback, node $NODE of $KAFKA_BROKERS.
process.roles=broker,controller
node.id=$NODE
$quorum
listeners=PLAINTEXT://127.0.0.1:$NODE_PORT,CONTROLLER://127.0.0.1:$NODE_CPORT
advertised.listeners=PLAINTEXT://127.0.0.1:$NODE_PORT,CONTROLLER://127.0.0.1:$NODE_CPORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$NODE_DATA

# Defaults are sized for three brokers; a single node must lower them or internal topics never form.
# A cluster keeps every internal topic on all its nodes, and an acknowledged write on two of them.
offsets.topic.replication.factor=$replicas
transaction.state.log.replication.factor=$replicas
transaction.state.log.min.isr=$min_isr
share.coordinator.state.topic.replication.factor=$replicas
share.coordinator.state.topic.min.isr=$min_isr
default.replication.factor=$replicas
min.insync.replicas=$min_isr

# Topics are created explicitly: a misspelt topic name must fail, not appear silently.
auto.create.topics.enable=false
num.partitions=1
# Without this every new consumer group waits 3 s before its first assignment (slow tests).
group.initial.rebalance.delay.ms=0

# A 2-core dev box: fewer threads and fewer partitions for internal topics start faster.
num.network.threads=2
num.io.threads=2
background.threads=2
num.recovery.threads.per.data.dir=1
group.coordinator.threads=1
offsets.topic.num.partitions=5
transaction.state.log.num.partitions=5
share.coordinator.state.topic.num.partitions=5
EOF

  # log4j2 (properties format: no YAML jar needed). Everything at INFO goes to server.log (rolled);
  # the console, which ends up in kafka.out, only carries warnings and errors.
  cat >"$NODE_DIR/log4j2.properties" <<'EOF'
# Generated by deploy/local/infra.sh.
status = warn
name = atende-local-kafka

appender.console.type = Console
appender.console.name = CONSOLE
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
appender.console.filter.threshold.type = ThresholdFilter
appender.console.filter.threshold.level = WARN

appender.server.type = RollingFile
appender.server.name = SERVER
appender.server.fileName = ${sys:kafka.logs.dir}/server.log
appender.server.filePattern = ${sys:kafka.logs.dir}/server.log.%i
appender.server.layout.type = PatternLayout
appender.server.layout.pattern = [%d] %p %m (%c)%n
appender.server.policies.type = Policies
appender.server.policies.size.type = SizeBasedTriggeringPolicy
appender.server.policies.size.size = 20MB
appender.server.strategy.type = DefaultRolloverStrategy
appender.server.strategy.max = 5

rootLogger.level = INFO
rootLogger.appenderRef.console.ref = CONSOLE
rootLogger.appenderRef.server.ref = SERVER

# Chatty at INFO and rarely useful on a dev box.
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
logger.authorizer.name = kafka.authorizer.logger
logger.authorizer.level = WARN
# Every client and server dumps its full configuration at INFO (~90% of the file); the effective
# server configuration is server.properties next to this file.
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = WARN
EOF
  printf 'KAFKA_PORT=%s\nKAFKA_CONTROLLER_PORT=%s\nKAFKA_BROKERS=%s\n' \
    "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" "$KAFKA_BROKERS" >"$KAFKA_DIR/ports.env"
}

# Formats the KRaft log directory once. The cluster id is kept in a file so that a later format (for
# instance after a crash left the data dir half-written) reuses the same id; every node of a
# cluster is formatted with it.
kafka_format_storage() {
  if [[ -f "$NODE_DATA/meta.properties" ]]; then
    return 0
  fi
  local id_file="$KAFKA_DIR/cluster.id" id mode=()
  if [[ ! -s "$id_file" ]]; then
    id="$(kafka_java kafka.tools.StorageTool random-uuid 2>>"$NODE_LOG_DIR/format.log" | tail -n 1)"
    [[ "$id" =~ ^[A-Za-z0-9_-]{22}$ ]] \
      || die "could not generate a Kafka cluster id (got '$id'); see $NODE_LOG_DIR/format.log"
    printf '%s\n' "$id" >"$id_file"
  fi
  id="$(tr -d '[:space:]' <"$id_file")"
  # --standalone goes with controller.quorum.bootstrap.servers (one node); static voters take none.
  ((KAFKA_BROKERS == 1)) && mode=(--standalone)
  log "formatting $NODE_NAME storage in $NODE_DATA (cluster id $id)"
  kafka_java kafka.tools.StorageTool format -t "$id" -c "$NODE_DIR/server.properties" \
    "${mode[@]}" --ignore-formatted >>"$NODE_LOG_DIR/format.log" 2>&1 \
    || { show_log_tail "$NODE_LOG_DIR/format.log"; die "formatting Kafka storage failed; if $KAFKA_DIR is damaged, run '$0 clean' (deletes local data) and retry."; }
}

# When a process started, as a time stamp kafka_started_since compares.
kafka_pid_started() { # <pid>
  date -d "$(ps -o lstart= -p "$1")" '+%Y-%m-%d %H:%M:%S'
}

# Pid of the current node if it is alive (guards against a stale pid file whose pid was reused).
kafka_pid() {
  local pid cmdline
  [[ -f "$NODE_PID_FILE" ]] || return 1
  pid="$(tr -d '[:space:]' <"$NODE_PID_FILE")"
  [[ "$pid" =~ ^[0-9]+$ ]] && proc_alive "$pid" || return 1
  cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  [[ "$cmdline" == *" kafka.Kafka "* ]] && printf '%s' "$pid"
}

# Tells whether the node logged that it started at or after $1 ("YYYY-mm-dd HH:MM:SS", the
# broker's clock and zone are ours). Every server.log* file written since is read: the log may
# roll over while a broker with many partitions starts, and the line can land in a rolled file.
kafka_started_since() { # <time stamp>
  local files
  mapfile -t files < <(find "$NODE_LOG_DIR" -maxdepth 1 -name 'server.log*' -newermt "$1")
  ((${#files[@]})) || return 1
  cat "${files[@]}" \
    | grep -F -e 'Kafka Server started' -e 'Transition from STARTING to STARTED' \
    | awk -v since="[$1" '$0 >= since { found = 1 } END { exit !found }'
}

# Waits until the node logged its start-up (at or after time stamp $2) and the port answers.
# The timeout counts seconds without progress: a broker recovering many partitions keeps writing
# "(N/M completed ...)" lines and may rightly take longer than that in all.
kafka_wait_ready() { # <pid> <start time stamp>
  local pid="$1" since="$2" waited=0 idle=0 size last_size=-1 loaded
  local server_log="$NODE_LOG_DIR/server.log"
  printf '[infra] waiting for %s on 127.0.0.1:%s ' "$NODE_NAME" "$NODE_PORT"
  while ((idle < KAFKA_READY_TIMEOUT && waited < KAFKA_READY_LIMIT)); do
    if ! proc_alive "$pid"; then
      printf '\n'
      show_log_tail "$NODE_LOG_DIR/kafka.out" "$server_log"
      rm -f "$NODE_PID_FILE"
      die "$NODE_NAME exited during start-up (see the log above and $NODE_LOG_DIR). Fix the cause and run '$0 kafka-up' again
        (if the local data is damaged and disposable, '$0 clean' resets it)."
    fi
    # Only this start counts: the logs keep the lines of earlier starts.
    if kafka_started_since "$since" && port_open "$NODE_PORT"; then
      printf ' ready after %ss\n' "$waited"
      return 0
    fi
    sleep 1
    waited=$((waited + 1))
    size="$(stat -c %s "$server_log" 2>/dev/null || echo 0)"
    if [[ "$size" != "$last_size" ]]; then idle=0; last_size="$size"; else idle=$((idle + 1)); fi
    ((waited % 3 == 0)) && printf '.'
    if ((waited % 15 == 0)); then
      loaded="$(tail -c 4096 "$server_log" 2>/dev/null | grep -o '[0-9]*/[0-9]* completed' | tail -1 || true)"
      [[ -n "$loaded" ]] && printf ' (loading partitions: %s) ' "${loaded% completed}"
    fi
  done
  printf '\n'
  show_log_tail "$NODE_LOG_DIR/kafka.out" "$server_log"
  die "$NODE_NAME did not become ready (${waited}s in all, ${idle}s without progress; it is still running as pid $pid).
        Read the logs above, then '$0 kafka-down' and retry; a slow machine may simply need another try."
}

# Starts the current node in the background unless it runs; prints "<pid> <time stamp>" of a start
# to wait for (nothing when it was running and answering already).
kafka_launch_node() {
  local pid
  if pid="$(kafka_pid)"; then
    if port_open "$NODE_PORT"; then
      log "$NODE_NAME already running (pid $pid, 127.0.0.1:$NODE_PORT)" >&2
      return 0
    fi
    # Alive but not listening yet: probably a start in progress; wait for it instead of starting twice.
    printf '%s %s\n' "$pid" "$(kafka_pid_started "$pid")"
    return 0
  fi
  rm -f "$NODE_PID_FILE"
  require_free_port "$NODE_PORT" "the broker of $NODE_NAME" KAFKA_PORT
  require_free_port "$NODE_CPORT" "the controller of $NODE_NAME" KAFKA_CONTROLLER_PORT
  kafka_jvm_opts
  kafka_write_config
  kafka_format_storage >&2

  local since
  since="$(date '+%Y-%m-%d %H:%M:%S')"
  log "starting $NODE_NAME, Kafka $KAFKA_VERSION (logs: $NODE_LOG_DIR)" >&2
  # setsid + nohup: the broker outlives this script and the terminal (Ctrl-C in `make run` must not
  # kill it); `down` stops it by pid.
  setsid nohup "$JAVA" "${KAFKA_JVM_OPTS[@]}" -cp "$KAFKA_LIB/*" kafka.Kafka "$NODE_DIR/server.properties" \
    >"$NODE_LOG_DIR/kafka.out" 2>&1 </dev/null 9>&- &
  pid=$!
  printf '%s\n' "$pid" >"$NODE_PID_FILE"
  printf '%s %s\n' "$pid" "$since"
}

# Starts every node that does not run (all of them first: a cluster's controllers need a majority
# before any node reports started), then waits for each.
kafka_up() {
  kafka_paths
  find_java
  kafka_fetch_jars
  local n started=() entry pid since
  for n in $(kafka_nodes); do
    kafka_node "$n"
    # (In a subshell, for its output: the node it starts is detached and records its own pid.)
    entry="$(kafka_launch_node)" || exit 1
    [[ -n "$entry" ]] && started+=("$n $entry")
  done
  for entry in "${started[@]}"; do
    read -r n pid since <<<"$entry"
    kafka_node "$n"
    kafka_wait_ready "$pid" "$since"
    log "$NODE_NAME running (pid $pid, 127.0.0.1:$NODE_PORT)"
  done
  ((${#started[@]})) && log "Kafka bootstrap: $(kafka_bootstrap)"
  return 0
}

kafka_node_down() { # stops the current node: SIGTERM (a controlled shutdown), SIGKILL after a while
  local pid waited=0
  if ! pid="$(kafka_pid)"; then
    rm -f "$NODE_PID_FILE"
    log "$NODE_NAME not running"
    return 0
  fi
  log "stopping $NODE_NAME (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true   # SIGTERM = controlled shutdown
  while proc_alive "$pid" && ((waited < KAFKA_STOP_TIMEOUT)); do
    sleep 1
    waited=$((waited + 1))
  done
  if proc_alive "$pid"; then
    warn "$NODE_NAME did not stop within ${KAFKA_STOP_TIMEOUT}s; killing it with SIGKILL (its next start will run log recovery)"
    kill -KILL "$pid" 2>/dev/null || true
    local i
    for ((i = 0; i < 50; i++)); do proc_alive "$pid" || break; sleep 0.2; done
    ! proc_alive "$pid" || die "$NODE_NAME (pid $pid) survived SIGKILL; check it with 'ps -p $pid'."
  fi
  rm -f "$NODE_PID_FILE"
  log "$NODE_NAME stopped after ${waited}s"
}

kafka_down() {
  local n pid
  if ((KAFKA_BROKERS > 1)); then
    # All nodes at once: stopped one by one, the last would wait for a controller quorum that left
    # with the others, and be killed after KAFKA_STOP_TIMEOUT.
    for n in $(kafka_nodes); do
      kafka_node "$n"
      if pid="$(kafka_pid)"; then kill -TERM "$pid" 2>/dev/null || true; fi
    done
  fi
  for n in $(kafka_nodes); do
    kafka_node "$n"
    kafka_node_down
  done
}

kafka_status() {
  local pid n
  for n in $(kafka_nodes); do
    kafka_node "$n"
    local label="kafka:"
    ((KAFKA_BROKERS == 1)) || label="kafka-$n:"
    if pid="$(kafka_pid)"; then
      if port_open "$NODE_PORT"; then
        printf '%-11s running  127.0.0.1:%s  pid %s\n' "$label" "$NODE_PORT" "$pid"
      else
        printf '%-11s starting 127.0.0.1:%s  pid %s (port not answering yet)\n' "$label" "$NODE_PORT" "$pid"
      fi
    else
      printf '%-11s stopped  127.0.0.1:%s\n' "$label" "$NODE_PORT"
    fi
  done
}

# ---------------------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------------------

# Newest PostgreSQL under Debian's layout; installs the distribution's package on a fresh machine.
find_pg() {
  PG_BIN="$(find_pg_bin)"
  if [[ -z "$PG_BIN" ]]; then
    ((EUID == 0)) || die "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin.
        Install them as root (Debian: sudo apt-get install -y postgresql) and retry."
    command -v apt-get >/dev/null 2>&1 || die "PostgreSQL not found and apt-get is unavailable; install PostgreSQL 15+ server binaries under /usr/lib/postgresql/<version>/bin."
    log "PostgreSQL not found; installing it with apt-get (once)"
    DEBIAN_FRONTEND=noninteractive apt-get update >/dev/null \
      || die "apt-get update failed: check network/proxy for the Debian package mirror, then retry."
    DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >/dev/null \
      || die "apt-get install postgresql failed: see the apt output above, fix it, then retry."
    PG_BIN="$(find_pg_bin)"
    [[ -n "$PG_BIN" ]] || die "postgresql installed but no initdb under /usr/lib/postgresql/*/bin; check the package."
  fi
}
find_pg_bin() {
  local initdb
  initdb="$(compgen -G '/usr/lib/postgresql/*/bin/initdb' | sort -V | tail -n 1 || true)"
  [[ -n "$initdb" && -x "${initdb%/initdb}/pg_ctl" ]] && printf '%s' "${initdb%/initdb}"
  return 0
}

# PostgreSQL refuses to run as root. As root we run the server as the unprivileged `postgres` OS user
# (the Debian package creates it); as any other user we run it as that user.
as_pg() {
  if ((EUID == 0)); then
    # cd /: the postgres user usually cannot read the caller's working directory (e.g. /root).
    (cd / && runuser -u "$PG_OS_USER" -- "$@")
  else
    "$@"
  fi
}

ensure_pg_os_user() {
  ((EUID == 0)) || return 0
  if ! id -u "$PG_OS_USER" >/dev/null 2>&1; then
    log "creating system user '$PG_OS_USER' to run PostgreSQL"
    useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$PG_OS_USER" \
      || die "could not create the '$PG_OS_USER' system user; create it (useradd --system postgres) and retry."
  fi
}

# The server user must reach $PG_DIR through every parent directory. We only change ownership of
# what we own (pg dir and its log dir); parents belong to the user, so we explain instead of chmod-ing.
ensure_pg_dirs() {
  mkdir -p "$PG_DIR" "$PG_SOCKET_DIR" "$PG_LOG_DIR"
  if ((EUID == 0)); then
    find "$PG_DIR" "$PG_LOG_DIR" ! -user "$PG_OS_USER" -exec chown "$PG_OS_USER:" {} +
    chmod 0755 "$PG_DIR" "$PG_LOG_DIR"
    # Walk down from / so that the message names the first directory that blocks the way.
    local dir="" part
    local -a parts
    IFS=/ read -ra parts <<<"${LOG_DIR#/}"   # $RUN_DIR and $RUN_DIR/logs
    for part in "${parts[@]}"; do
      dir="$dir/$part"
      if ! runuser -u "$PG_OS_USER" -- test -x "$dir"; then
        die "PostgreSQL runs as the '$PG_OS_USER' user, which cannot enter $dir.
        Allow it (e.g. chmod o+x '$dir') or use a run dir it can reach: ATENDE_RUN_DIR=/some/dir $0 ${COMMAND}"
      fi
    done
  fi
  # Unix socket paths are limited to ~107 bytes.
  local sock="$PG_SOCKET_DIR/.s.PGSQL.$PG_PORT"
  ((${#sock} < 100)) || die "socket path $sock is too long for a Unix socket; use a shorter ATENDE_RUN_DIR."
}

pg_init_cluster() {
  [[ -f "$PG_DATA/PG_VERSION" ]] && return 0
  log "creating PostgreSQL cluster in $PG_DATA"
  local pwfile="$PG_DIR/.pwfile" locale_opt=(--no-locale)
  # C.UTF-8: byte order like C, but proper character classes for non-ASCII text.
  grep -qix 'C.utf-\?8' <<<"$(locale -a 2>/dev/null)" && locale_opt=(--locale=C.UTF-8)
  printf '%s\n' "$PG_PASSWORD" >"$pwfile"
  ((EUID == 0)) && chown "$PG_OS_USER:" "$pwfile"
  chmod 0600 "$pwfile"
  if ! as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U "$PG_ROLE" --pwfile="$pwfile" -E UTF8 "${locale_opt[@]}" \
      --auth=scram-sha-256 --data-checksums >"$PG_LOG_DIR/initdb.log" 2>&1; then
    rm -f "$pwfile"
    show_log_tail "$PG_LOG_DIR/initdb.log"
    rm -rf "$PG_DATA"
    die "initdb failed (see above). Fix the cause and run '$0 pg-up' again."
  fi
  rm -f "$pwfile"
  # Password logins only, loopback only; no IPv6 or replication entries are needed.
  cat >"$PG_DATA/pg_hba.conf" <<'EOF'
# Generated by deploy/local/infra.sh
# TYPE  DATABASE  USER  ADDRESS        METHOD
local   all       all                  scram-sha-256
host    all       all   127.0.0.1/32   scram-sha-256
EOF
  printf "\n# Local dev settings, rewritten by deploy/local/infra.sh on each start.\ninclude_if_exists = 'atende-local.conf'\n" \
    >>"$PG_DATA/postgresql.conf"
  ((EUID == 0)) && chown "$PG_OS_USER:" "$PG_DATA/pg_hba.conf" "$PG_DATA/postgresql.conf"
  return 0
}

pg_write_config() {
  cat >"$PG_DATA/atende-local.conf" <<EOF
# Generated by deploy/local/infra.sh on every start; edit the script, not this file.
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_SOCKET_DIR'
max_connections = 300
shared_buffers = 256MB
# Durability stays on: the services rely on commits being durable (outbox/inbox).
fsync = on
synchronous_commit = on
full_page_writes = on
password_encryption = 'scram-sha-256'
logging_collector = on
log_directory = '$PG_LOG_DIR'
log_filename = 'postgresql-%a.log'
log_truncate_on_rotation = on
log_rotation_age = 1d
log_rotation_size = 0
EOF
  ((EUID == 0)) && chown "$PG_OS_USER:" "$PG_DATA/atende-local.conf"
  printf 'PG_PORT=%s\n' "$PG_PORT" >"$RUN_DIR/pg.port.env"
}

pg_running() {
  [[ -f "$PG_DATA/PG_VERSION" ]] && as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1
}

pg_pid() { head -n 1 "$PG_DATA/postmaster.pid" 2>/dev/null; }

pg_wait_ready() {
  local waited=0
  until "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 2; do
    ((waited < 60)) || { show_log_tail "$PG_LOG_DIR"/postgresql-*.log "$PG_LOG_DIR/startup.log";
                         die "PostgreSQL did not answer on 127.0.0.1:$PG_PORT within 60s; see the log above."; }
    sleep 1
    waited=$((waited + 1))
  done
}

psql_atende() {
  PGPASSWORD="$PG_PASSWORD" "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" \
    -U "$PG_ROLE" -d postgres
}

# One database per service, created only when missing (CREATE DATABASE has no IF NOT EXISTS).
pg_create_databases() {
  local list
  list="$(printf "'%s'," "${PG_DATABASES[@]}")"
  psql_atende <<EOF || die "could not create the service databases; see the psql error above."
SELECT format('CREATE DATABASE %I OWNER %I', d, '$PG_ROLE')
FROM unnest(ARRAY[${list%,}]) AS d
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = d)
\gexec
EOF
}

pg_up() {
  find_pg
  ensure_pg_os_user
  if pg_running; then
    if "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; then
      log "PostgreSQL already running (pid $(pg_pid), 127.0.0.1:$PG_PORT)"
      pg_create_databases
      return 0
    fi
    die "PostgreSQL in $PG_DATA runs (pid $(pg_pid)) but does not answer on 127.0.0.1:$PG_PORT;
        was it started with another PG_PORT? Run '$0 pg-down' and then '$0 pg-up'."
  fi
  require_free_port "$PG_PORT" "PostgreSQL" PG_PORT
  ensure_pg_dirs
  pg_init_cluster
  pg_write_config
  log "starting PostgreSQL $(basename "$(dirname "$PG_BIN")") (logs: $PG_LOG_DIR)"
  if ! as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG_DIR/startup.log" -w -t 60 start >/dev/null 9>&-; then
    show_log_tail "$PG_LOG_DIR/startup.log" "$PG_LOG_DIR"/postgresql-*.log
    die "PostgreSQL did not start (see the log above). Fix the cause and run '$0 pg-up' again."
  fi
  pg_wait_ready
  pg_create_databases
  log "PostgreSQL running (pid $(pg_pid), 127.0.0.1:$PG_PORT, databases: ${PG_DATABASES[*]})"
}

pg_down() {
  PG_BIN="$(find_pg_bin)"
  if [[ -z "$PG_BIN" ]] || ! pg_running; then
    log "PostgreSQL not running"
    return 0
  fi
  log "stopping PostgreSQL (pid $(pg_pid))"
  # fast = roll back open transactions and shut down cleanly (a checkpoint, no recovery next start).
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" stop -m fast -w -t 60 >/dev/null \
    || die "PostgreSQL did not stop within 60s; see $PG_LOG_DIR. Try again, or: $PG_BIN/pg_ctl -D $PG_DATA stop -m immediate (as user $PG_OS_USER)."
  log "PostgreSQL stopped"
}

pg_status() {
  PG_BIN="$(find_pg_bin)"
  if [[ -n "$PG_BIN" ]] && pg_running; then
    printf 'postgresql: running  127.0.0.1:%s  pid %s\n' "$PG_PORT" "$(pg_pid)"
  else
    printf 'postgresql: stopped  127.0.0.1:%s\n' "$PG_PORT"
  fi
}

# ---------------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------------
print_env() {
  cat <<EOF
export ATENDE_KAFKA_BOOTSTRAP=$(kafka_bootstrap)
export ATENDE_PG_HOST=127.0.0.1
export ATENDE_PG_PORT=$PG_PORT
export ATENDE_PG_USER=$PG_ROLE
export ATENDE_PG_PASSWORD=$PG_PASSWORD
export ATENDE_PG_DSN_BASE=postgresql+asyncpg://$PG_ROLE:$PG_PASSWORD@127.0.0.1:$PG_PORT
EOF
}

clean() {
  kafka_down
  pg_down
  log "removing $KAFKA_DIR, $PG_DIR and $LOG_DIR (the jar cache is kept)"
  rm -rf "$KAFKA_DIR" "$PG_DIR" "$LOG_DIR" "$KAFKA_PID_FILE" "$RUN_DIR"/kafka-[0-9]*.pid "$RUN_DIR/pg.port.env"
}

usage() {
  cat <<EOF
usage: $0 COMMAND
  up          start PostgreSQL and Kafka (idempotent)
  down        stop both (data is kept)
  status      one line per server
  env         print connection settings as shell export lines (eval "\$($0 env)")
  clean       stop both and delete their data and logs (not the jar cache)
  kafka-up | kafka-down | pg-up | pg-down
  kafka-node-up N | kafka-node-down N   start or stop (SIGTERM) node N of a cluster
A number after up, down, status, env, clean, kafka-up or kafka-down sets the Kafka node count
(as KAFKA_BROKERS does), e.g. '$0 up 3'.
EOF
}

node_command() { # <n> <up|down>
  [[ "${1:-}" =~ ^[1-9]$ ]] && (($1 <= KAFKA_BROKERS)) \
    || die "name a node 1-$KAFKA_BROKERS (KAFKA_BROKERS=$KAFKA_BROKERS), e.g. '$0 kafka-node-$2 2'."
  if [[ "$2" == up ]]; then
    local entry pid since
    kafka_paths
    find_java
    kafka_fetch_jars
    kafka_node "$1"
    entry="$(kafka_launch_node)" || exit 1
    [[ -n "$entry" ]] || return 0
    read -r pid since <<<"$entry"
    kafka_wait_ready "$pid" "$since"
    log "$NODE_NAME running (pid $pid, 127.0.0.1:$NODE_PORT)"
  else
    kafka_node "$1"
    kafka_node_down
  fi
}

main() {
  COMMAND="${1:-}"
  case "$COMMAND" in
    kafka-node-up | kafka-node-down) ;;
    *) if [[ "${2:-}" =~ ^[0-9]+$ ]]; then KAFKA_BROKERS="$2"; fi ;;
  esac
  resolve_ports
  case "$COMMAND" in
    kafka-node-up) take_lock; node_command "${2:-}" up ;;
    kafka-node-down) take_lock; node_command "${2:-}" down ;;
    up) take_lock; pg_up; kafka_up ;;
    down) take_lock; kafka_down; pg_down ;;
    kafka-up) take_lock; kafka_up ;;
    kafka-down) take_lock; kafka_down ;;
    pg-up) take_lock; pg_up ;;
    pg-down) take_lock; pg_down ;;
    status) kafka_status; pg_status ;;
    env) print_env ;;
    clean) take_lock; clean ;;
    -h | --help | help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
}

main "$@"
