# shellcheck shell=bash disable=SC2034 # variables here are used by the scripts that source it
# Shared helpers for deploy/local/*.sh. Sourced, never executed.
#
# State lives under $HAPPYCHAT_STATE_DIR (default: <repo>/.state):
#   kafka/      jar cache (libs/), config, data, logs, pid
#   kafka-secure/   the SASL_SSL broker of kafka-secure.sh: config, data, logs,
#               pid, tls/ (throwaway CA and broker certificate), secrets/
#               (one password file per SCRAM user)
#   kafka-cluster/  the 3-node cluster of kafka-cluster.sh: n1/ n2/ n3/ (config,
#               data, logs, pid each), cluster.id, class-data-sharing archive
#   postgres/   private cluster (data/), unix socket dir (run/), log
#   clickhouse/ config, data, logs, pid

DEPLOY_LOCAL_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$DEPLOY_LOCAL_DIR/../.." && pwd)"
STATE_DIR="${HAPPYCHAT_STATE_DIR:-$REPO_DIR/.state}"
mkdir -p "$STATE_DIR"
STATE_DIR="$(cd "$STATE_DIR" && pwd)"
# keep the state out of `git status` when it lives inside the repo
[[ -e $STATE_DIR/.gitignore ]] || echo '*' >"$STATE_DIR/.gitignore"

# Ports (non-default on purpose, so nothing collides with system services).
KAFKA_PORT=19092
KAFKA_CONTROLLER_PORT=19093
# The 3-node KRaft cluster of kafka-cluster.sh (node ids 1..3, each broker and
# controller): node N's broker port is KAFKA_CLUSTER_PORTS[N], its controller's
# KAFKA_CLUSTER_CONTROLLER_PORTS[N].
KAFKA_CLUSTER_PORTS=([1]=29092 [2]=29192 [3]=29292)
KAFKA_CLUSTER_CONTROLLER_PORTS=([1]=29093 [2]=29193 [3]=29293)
KAFKA_CLUSTER_BROKERS=127.0.0.1:29092,127.0.0.1:29192,127.0.0.1:29292
# The secured single node of kafka-secure.sh: SASL_SSL (SCRAM-SHA-512) for
# clients, mutual TLS for its controller; its own data, never the others'.
KAFKA_SECURE_PORT=19094
KAFKA_SECURE_CONTROLLER_PORT=19095
# The stores' ports may be moved (HAPPYCHAT_PG_PORT, HAPPYCHAT_CH_TCP_PORT,
# HAPPYCHAT_CH_HTTP_PORT) together with HAPPYCHAT_STATE_DIR: the fault suite
# starts a PostgreSQL and a ClickHouse of its own that way, to pause and fill
# them without touching the shared ones.
PG_PORT=${HAPPYCHAT_PG_PORT:-15432}
CH_TCP_PORT=${HAPPYCHAT_CH_TCP_PORT:-19000}
CH_HTTP_PORT=${HAPPYCHAT_CH_HTTP_PORT:-18123}

PG_URL="postgres://happychat:happychat@127.0.0.1:${PG_PORT}/happychat?sslmode=disable"

log() { printf '[%s] %s\n' "${LOG_TAG:-local}" "$*" >&2; }
die() { printf '[%s] ERROR: %s\n' "${LOG_TAG:-local}" "$*" >&2; exit 1; }

# die_with_log MESSAGE LOGFILE...: fail and show the tail of the given logs.
die_with_log() {
  local msg=$1; shift
  printf '[%s] ERROR: %s\n' "${LOG_TAG:-local}" "$msg" >&2
  local f
  for f in "$@"; do
    if [[ -s $f ]]; then
      printf -- '----- last 40 lines of %s -----\n' "$f" >&2
      tail -n 40 "$f" >&2
      printf -- '-----\n' >&2
    fi
  done
  exit 1
}

now_ms() { date +%s%3N; }
elapsed() { local s=$1; local e; e=$(now_ms); printf '%d.%01ds' $(( (e - s) / 1000 )) $(( (e - s) % 1000 / 100 )); }

# port_open HOST PORT: true when a TCP connect succeeds.
port_open() {
  timeout 1 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
}

# proc_live PID: the process exists and is not a zombie.
proc_live() {
  local st
  st=$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null) || return 1
  [[ -n $st && $st != Z && $st != X ]]
}

# pid_alive PIDFILE PATTERN: true when the pid in PIDFILE is alive and its
# command line contains PATTERN (guards against pid reuse after a reboot).
pid_alive() {
  local pidfile=$1 pattern=$2 pid
  [[ -s $pidfile ]] || return 1
  pid=$(<"$pidfile")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  proc_live "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$pattern"
}

# stop_pid PIDFILE PATTERN NAME [TIMEOUT]: SIGTERM, wait, then SIGKILL.
stop_pid() {
  local pidfile=$1 pattern=$2 name=$3 timeout=${4:-30} pid i
  if ! pid_alive "$pidfile" "$pattern"; then
    rm -f "$pidfile"
    log "$name not running"
    return 0
  fi
  pid=$(<"$pidfile")
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < timeout * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name did not stop within ${timeout}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
  fi
  rm -f "$pidfile"
  log "$name stopped"
}

# rotate_log FILE: keep one previous copy so each start has a fresh log.
# rotate_log keeps the last three starts' logs (.1 newest): a fault suite
# restarts a node several times, and a failed start must still be readable
# after the restarts that follow it.
rotate_log() {
  [[ -e $1.2 ]] && mv -f "$1.2" "$1.3"
  [[ -e $1.1 ]] && mv -f "$1.1" "$1.2"
  [[ -e $1 ]] && mv -f "$1" "$1.1"
  : >"$1"
}

pkg_installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
}

# Kafka cluster ids are 16 random bytes in URL-safe base64 without padding
# (what `kafka-storage random-uuid` prints); avoid a leading '-'.
new_cluster_id() {
  local id
  while :; do
    id=$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
    [[ $id != -* ]] && { printf '%s\n' "$id"; return; }
  done
}

# JVM flags of every Kafka broker started here (kafka.sh, kafka-cluster.sh);
# each script adds the heap and class-data-sharing flags.
KAFKA_BROKER_JVM_FLAGS=(-server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
  -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true)

# kafka_single_node_settings [IO_THREADS]: the server.properties lines of a
# single-node broker for tests (kafka.sh, kafka-secure.sh), io threads
# default 4.
kafka_single_node_settings() {
  cat <<EOF
# single node, tests
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=false
delete.topic.enable=true
group.initial.rebalance.delay.ms=0
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
num.network.threads=2
num.io.threads=${1:-4}
# A transaction's first produce waits while the partition's previous
# transaction is still completing; the broker rechecks every 20 ms by
# default, which put ~20 ms on every back-to-back transaction (each command
# owner runs one after another). See docs/benchmarks.md, "Command".
add.partitions.to.txn.retry.backoff.ms=1
log.retention.hours=168
# after an unclean stop (kill -9, reboot) the old registration blocks the
# restarted broker until its session expires (default 9s)
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms=4000
EOF
}

# kafka_jsa_path DIR: the class-data-sharing archive of a broker's classes in
# DIR, named after the JVM build, so a JDK upgrade makes a new one.
kafka_jsa_path() {
  local jvm
  jvm="$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")/lib/server/libjvm.so"
  printf '%s/kafka-broker-%s.jsa\n' "$1" "$(stat -c %Y "$jvm" 2>/dev/null || echo 0)"
}

# write_kafka_log4j FILE SERVER_LOG: a broker's log4j2 configuration (INFO
# and up to SERVER_LOG, rolled at 50MB, three kept).
write_kafka_log4j() {
  cat >"$1" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by deploy/local/$(basename "$0") -->
<Configuration status="WARN">
  <Appenders>
    <RollingFile name="server" fileName="$2" filePattern="$2.%i">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
      <SizeBasedTriggeringPolicy size="50MB"/>
      <DefaultRolloverStrategy max="3"/>
    </RollingFile>
  </Appenders>
  <Loggers>
    <Root level="INFO"><AppenderRef ref="server"/></Root>
    <Logger name="kafka.request.logger" level="WARN"/>
    <Logger name="org.apache.kafka.clients" level="WARN"/>
  </Loggers>
</Configuration>
EOF
}

# apt_install PKG...: install the packages that are missing. Runs
# `apt-get update` once per top-level invocation (HAPPYCHAT_APT_UPDATED is
# exported so child scripts of up.sh do not repeat it). System services that
# the packages would start (postgresql main cluster, clickhouse-server) are
# kept from starting via policy-rc.d.
apt_install() {
  local missing=() p
  for p in "$@"; do
    pkg_installed "$p" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  [[ $(id -u) == 0 ]] || die "need root to apt-get install ${missing[*]}"
  local apt_opts=(-o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
  if [[ -z ${HAPPYCHAT_APT_UPDATED:-} ]]; then
    log "apt-get update"
    apt-get "${apt_opts[@]}" update -qq >"$STATE_DIR/apt.log" 2>&1 ||
      die_with_log "apt-get update failed" "$STATE_DIR/apt.log"
    export HAPPYCHAT_APT_UPDATED=1
  fi
  local made_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\n# temporary, created by happychat deploy/local/lib.sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  log "apt-get install ${missing[*]} (log: $STATE_DIR/apt.log)"
  local rc=0 t0; t0=$(now_ms)
  DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" install -y -q --no-install-recommends "${missing[@]}" >>"$STATE_DIR/apt.log" 2>&1 || rc=$?
  if ((made_policy)); then rm -f /usr/sbin/policy-rc.d; fi
  ((rc == 0)) || die_with_log "apt-get install ${missing[*]} failed (exit $rc)" "$STATE_DIR/apt.log"
  log "apt-get install done ($(elapsed "$t0"))"
}

# wait_for TIMEOUT_S PIDFILE PATTERN CMD...: poll CMD every 0.2s until it
# succeeds. Returns 0 when ready, 1 when the process (PIDFILE/PATTERN; empty
# PIDFILE = don't check) died, 2 on timeout. Callers report with die_with_log.
wait_for() {
  local timeout=$1 pidfile=$2 pattern=$3; shift 3
  local deadline=$(( $(now_ms) + timeout * 1000 ))
  while ! "$@" >/dev/null 2>&1; do
    if [[ -n $pidfile ]] && ! pid_alive "$pidfile" "$pattern"; then
      return 1
    fi
    if (( $(now_ms) > deadline )); then
      return 2
    fi
    sleep 0.2
  done
}

# wait_or_die NAME TIMEOUT_S PIDFILE PATTERN LOGS_ARRAY_NAME CMD...
wait_or_die() {
  local name=$1 timeout=$2 pidfile=$3 pattern=$4 logs_var=$5; shift 5
  local -n logs_ref=$logs_var
  local rc=0
  wait_for "$timeout" "$pidfile" "$pattern" "$@" || rc=$?
  case $rc in
    0) return 0 ;;
    1) die_with_log "$name exited during startup" "${logs_ref[@]}" ;;
    *) die_with_log "$name not ready after ${timeout}s (still running; see logs)" "${logs_ref[@]}" ;;
  esac
}
