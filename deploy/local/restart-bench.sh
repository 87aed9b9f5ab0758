#!/usr/bin/env bash
# Restart benchmark of the command service (docs/benchmarks.md, "Command:
# restart and memory at any history length").
#
# Runs a split `happychat command` + `happychat realtime` on the servers of
# deploy/local under their own topic prefix, fills the rooms topic through
# the public API with `happychat-bench -mode load`, and measures a restart
# of the command process: wall seconds from exec to the first acknowledged
# POST /v1/rooms/{id}/messages to an existing room (201), and its RSS once
# settled.
#
#   deploy/local/restart-bench.sh start              # command + realtime, probe user and room
#   deploy/local/restart-bench.sh rss                # the running command's VmRSS after a send, settled
#   deploy/local/restart-bench.sh fill N             # bench until N messages were acknowledged in all
#                                               # (or until RB_UNTIL, epoch seconds, if set)
#   deploy/local/restart-bench.sh restart [BIN]      # SIGTERM the command, start BIN (default bin/happychat), measure
#   deploy/local/restart-bench.sh offsets            # end offsets of the rooms topic (records + markers)
#   deploy/local/restart-bench.sh stop               # stop what this script started
#
# Settings (environment): RB_PREFIX (topic prefix, default rbench1),
# RB_DIR (state and logs, default /tmp/$RB_PREFIX), RB_CMD_ADDR
# (127.0.0.1:18481), RB_CMD_INTERNAL (the command's internal listener, where
# realtime sends and /metrics are read: 127.0.0.1:19481), RB_RT_ADDR
# (127.0.0.1:18485; its internal listener is the default, 127.0.0.1:19485), RB_ROOMS (50),
# RB_MEMBERS (19), RB_RATE (sends/s, 2500), RB_CHUNK (seconds per bench run,
# 120), RB_SETTLE (seconds idle before the settled RSS, 30), RB_BIN (the
# binary `start` runs, default bin/happychat), RB_BENCH_BIN (the load
# generator `fill` runs, default bin/happychat-bench). Extra variables of the
# service (CHAT_DEDUPE_WINDOW_ENTRIES, ...) pass through; the profiles are
# on the internal listeners (http://$RB_CMD_INTERNAL/debug/pprof/).
# Figures and how they were taken: docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
eval "$(deploy/local/env.sh)"

export CHAT_TOPIC_PREFIX=${RB_PREFIX:-rbench1}
DIR=${RB_DIR:-/tmp/$CHAT_TOPIC_PREFIX}
mkdir -p "$DIR"
CMD_ADDR=${RB_CMD_ADDR:-127.0.0.1:18481}
CMD_INTERNAL=${RB_CMD_INTERNAL:-127.0.0.1:19481}
RT_ADDR=${RB_RT_ADDR:-127.0.0.1:18485}
ROOMS=${RB_ROOMS:-50}
MEMBERS=${RB_MEMBERS:-19}
RATE=${RB_RATE:-2500}
CHUNK=${RB_CHUNK:-120}
SETTLE=${RB_SETTLE:-30}
BIN=${RB_BIN:-$ROOT/bin/happychat}
BENCH_BIN=${RB_BENCH_BIN:-$ROOT/bin/happychat-bench}

# Secrets are generated once per state directory so restarts keep them.
[ -f "$DIR/secret" ] || openssl rand -hex 32 >"$DIR/secret"
[ -f "$DIR/admin" ] || openssl rand -hex 32 >"$DIR/admin" # at least 32 characters
CHAT_TOKEN_SECRET=$(cat "$DIR/secret")
CHAT_ADMIN_TOKEN=$(cat "$DIR/admin")
export CHAT_TOKEN_SECRET CHAT_ADMIN_TOKEN
export CHAT_SEND_RATE=1000 CHAT_SEND_BURST=1000 CHAT_JOIN_RATE=1000 CHAT_JOIN_BURST=1000
# The load generator makes every user from 127.0.0.1: exempt from the
# address limits, and the cluster-wide session cap out of its way.
export CHAT_RATE_LIMIT_EXEMPT=127.0.0.0/8,::1 CHAT_SESSIONS_PER_MINUTE=1000000
export CHAT_LOG_LEVEL=info

now() { date +%s.%N; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
cmd_pid() { cat "$DIR/command.pid"; }

start_command() { # BIN LOGNAME
  local bin=$1 log=$DIR/$2
  CHAT_HTTP_ADDR=$CMD_ADDR CHAT_INTERNAL_ADDR=$CMD_INTERNAL "$bin" command >"$log" 2>&1 &
  echo $! >"$DIR/command.pid"
}

wait_http() { # URL
  for _ in $(seq 1 600); do curl -fsS -o /dev/null "$1/healthz" 2>/dev/null && return 0; sleep 0.1; done
  echo "no answer from $1" >&2; return 1
}

# send prints the HTTP status of one send by the probe user.
send() {
  curl -s -o "$DIR/send.out" -w '%{http_code}' -X POST "http://$CMD_ADDR/v1/rooms/$(cat "$DIR/probe.room")/messages" \
    -H "Authorization: Bearer $(cat "$DIR/probe.token")" -H 'Content-Type: application/json' \
    -d "{\"body\":\"restart probe\",\"client_msg_id\":\"probe-$(date +%s%N)\"}" 2>/dev/null || echo 000
}

settled_rss() { # PID: VmRSS in KiB after SETTLE s idle
  sleep "$SETTLE"
  rss_kib "$1"
}

case ${1:-} in
start)
  start_command "$BIN" command.log
  wait_http "http://$CMD_ADDR"
  CHAT_HTTP_ADDR=$RT_ADDR CHAT_COMMAND_URL=http://$CMD_INTERNAL "$BIN" realtime >"$DIR/realtime.log" 2>&1 &
  echo $! >"$DIR/realtime.pid"
  wait_http "http://$RT_ADDR"
  # The probe: a user of its own, in a room of its own (opened by the admin).
  until room=$(curl -fsS -X POST "http://$CMD_ADDR/v1/rooms" -H "Authorization: Bearer $CHAT_ADMIN_TOKEN" \
      -H 'Content-Type: application/json' -d '{"title":"restart probe","description":"probe"}'); do sleep 0.5; done
  echo "$room" | sed -E 's/.*"id":"?([0-9]+)"?.*/\1/' >"$DIR/probe.room"
  s=$(curl -fsS -X POST "http://$CMD_ADDR/v1/sessions" -H 'Content-Type: application/json' -d '{"nickname":"probe"}')
  echo "$s" | sed -E 's/.*"token":"([^"]+)".*/\1/' >"$DIR/probe.token"
  curl -fsS -o /dev/null -X POST "http://$CMD_ADDR/v1/rooms/$(cat "$DIR/probe.room")/join" \
    -H "Authorization: Bearer $(cat "$DIR/probe.token")" -H 'Content-Type: application/json' -d '{}'
  echo "probe room $(cat "$DIR/probe.room"); first send: $(send)"
  ;;
rss)
  echo "send: $(send)"
  echo "command pid $(cmd_pid) settled VmRSS $(settled_rss "$(cmd_pid)") KiB"
  ;;
fill)
  target=$2
  touch "$DIR/acks"
  while :; do
    total=$(awk '{s+=$1} END {print s+0}' "$DIR/acks")
    [ "$total" -ge "$target" ] && break
    left=$((target - total))
    secs=$(( left / RATE + 1 )); [ "$secs" -gt "$CHUNK" ] && secs=$CHUNK
    if [ -n "${RB_UNTIL:-}" ]; then # stop by this time (epoch seconds), whatever the count
      rest=$(( RB_UNTIL - $(date +%s) - 30 )); [ "$rest" -lt 20 ] && break
      [ "$secs" -gt "$rest" ] && secs=$rest
    fi
    out=$DIR/bench-$(date +%H%M%S).json
    "$BENCH_BIN" -mode load -url "http://$CMD_ADDR" -ws "ws://$RT_ADDR" -metrics "http://$CMD_INTERNAL" \
      -rooms "$ROOMS" -members "$MEMBERS" -rate "$RATE" -duration "${secs}s" -drain 20s -out "$out" \
      2>>"$DIR/bench.log"
    acks=$(grep -o '"acks": *[0-9]*' "$out" | grep -o '[0-9]*$')
    echo "$acks" >>"$DIR/acks"
    echo "$(date -u +%T) bench ${secs}s at $RATE/s: $acks acks, total $((total + acks))"
  done
  ;;
restart)
  bin=${2:-$BIN}
  name=$(basename "$bin")
  pid=$(cmd_pid)
  kill -TERM "$pid" 2>/dev/null || true; while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  log=command-$(date +%H%M%S)-$name.log
  t0=$(now)
  start_command "$bin" "$log"
  n=0
  while :; do
    code=$(send); n=$((n + 1))
    [ "$code" = 201 ] && break
    sleep 0.02
  done
  t1=$(now)
  pid=$(cmd_pid)
  rss_first=$(rss_kib "$pid")
  echo "$name: exec → first 201: $(echo "$t1 - $t0" | bc) s ($n attempts), RSS then $rss_first KiB"
  grep -h "caught up with the log" "$DIR/$log" || true
  echo "settled VmRSS $(settled_rss "$pid") KiB (after ${SETTLE}s idle); log $DIR/$log"
  ;;
offsets)
  deploy/local/kafka.sh tool org.apache.kafka.tools.GetOffsetShell --bootstrap-server "$KAFKA_BROKERS" \
    --topic "$CHAT_TOPIC_PREFIX.rooms.v1" --time -1 2>/dev/null | awk -F: '{s+=$3} END {print "rooms topic end offsets, sum:", s}'
  ;;
stop)
  for f in realtime command; do
    if [ -f "$DIR/$f.pid" ]; then kill -TERM "$(cat "$DIR/$f.pid")" 2>/dev/null || true; fi
  done
  ;;
*) sed -n 2,31p "$0"; exit 2 ;;
esac
