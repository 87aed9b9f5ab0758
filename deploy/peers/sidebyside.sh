#!/usr/bin/env bash
# sidebyside.sh: issue 16's comparison in one run. The centrifuge peer (in
# memory), happychat all-in-one (`happychat dev`) and happychat split
# (command, realtime and projector processes) on the real Kafka of
# deploy/local, each driven by the same generator (bin/peer-limits, members
# sending over their sockets) at the same loads, one after another, in
# rounds (peer, all-in-one, split at each load) so that a noisy minute
# lands on all three alike. Every RESULT line goes to $OUT/results.txt and
# every run's JSON beside it, and a latency histogram picture per rate to
# $OUT/hist-<rate>.svg (histograms.py); docs/benchmarks.md explains the
# columns.
#
#   make build peers && deploy/local/up.sh
#   deploy/peers/sidebyside.sh [OUT_DIR]
#
# SBS_RATES (messages/s; deliveries are × 20): "250 1000 2500"; SBS_SAT, the
# saturation search's offered rates: "3500 5000"; SBS_DUR: 15s;
# SBS_TARGETS: "peer dev split", and the floors under them
# (bin/peer-kafkafloor, docs/benchmarks.md "The floor"): floor (serial
# transactions), floorgroup (the same with happychat's group offsets, by
# franz-go's session), floorraw (those offsets sent raw, no heartbeat),
# floor2 and floorraw2 (two transactions in flight, without and with raw
# offsets), floorack (no transaction, acks=all), floorlinger (the same with
# a 5 ms linger), floorgroup2 (floorgroup with two members of the group,
# each with its own transaction), peerfloor, peerfloorraw2 and
# peerfloorgroup2 (the peer's run with floorgroup, floorraw2 or floorgroup2
# beside it, at once: floorbeside, floorraw2beside, floorgroup2beside); SBS_WARM: 90s of load on the first
# happychat system before the measured runs (0: none); SBS_BIN: the
# happychat binary (an A/B of two builds: one run each, alternated);
# SBS_PREFIX: the topic prefix and database
# suffix of the run's own happychat topics (a fresh one per run), dropped
# with its databases at the end unless SBS_KEEP=1 (a broker's restart loads
# every partition it holds, so runs must not pile them up).
set -euo pipefail
# shellcheck disable=SC2046 # sysenv's words are the settings
cd "$(dirname "$0")/../.."
ROOT=$PWD
eval "$(deploy/local/env.sh)"

OUT=${1:-/tmp/sbs-$(date -u +%Y%m%dT%H%M%S)}
mkdir -p "$OUT"
RATES=${SBS_RATES:-250 1000 2500}
SAT=${SBS_SAT-3500 5000}
DUR=${SBS_DUR:-15s}
WARM=${SBS_WARM:-90s}
TARGETS=${SBS_TARGETS:-peer dev split}
PREFIX=${SBS_PREFIX:-sbs$(date +%s)}
BIN=${SBS_BIN:-$ROOT/bin/happychat}
LIMITS=$ROOT/bin/peer-limits
PEER=$ROOT/bin/peer-centrifuge
FLOOR=$ROOT/bin/peer-kafkafloor
for b in "$BIN" "$LIMITS" "$PEER" "$FLOOR"; do [ -x "$b" ] || { echo "missing $b: make build peers" >&2; exit 1; }; done

CHAT_TOKEN_SECRET=$(openssl rand -hex 32)
CHAT_ADMIN_TOKEN=$(openssl rand -hex 32)
export CHAT_TOKEN_SECRET CHAT_ADMIN_TOKEN
# The generator's members send far above a person's limits, from one host.
export CHAT_SEND_RATE=1000 CHAT_SEND_BURST=1000 CHAT_JOIN_RATE=1000 CHAT_JOIN_BURST=1000
export CHAT_RATE_LIMIT_EXEMPT=127.0.0.0/8,::1 CHAT_SESSIONS_PER_MINUTE=1000000
export CHAT_LOG_LEVEL=warn

PEER_ADDR=127.0.0.1:18690
DEV_ADDR=127.0.0.1:18680 DEV_INT=127.0.0.1:18681
CMD_ADDR=127.0.0.1:18682 CMD_INT=127.0.0.1:18683
RT_ADDR=127.0.0.1:18684 RT_INT=127.0.0.1:18685
PROJ_ADDR=127.0.0.1:18686 PROJ_INT=127.0.0.1:18687

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ "${SBS_KEEP:-}" = 1 ] && return
  deploy/local/kafka.sh topics --delete --topic "^${PREFIX}[dsf]\\..*" >/dev/null 2>&1 || true
  for s in d s; do
    deploy/local/postgres.sh psql -qc "DROP DATABASE IF EXISTS ${PREFIX}$s" >/dev/null 2>&1 || true
    deploy/local/clickhouse.sh client -q "DROP DATABASE IF EXISTS ${PREFIX}$s" >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT

wait_http() { # URL
  for _ in $(seq 1 600); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "no answer from $1" >&2; return 1
}

# all-in-one and split each get their own topics and databases: two
# command services on the same topics would share the partitions.
PG_BASE=$PG_URL
setup() { # NAME: the databases of one happychat system
  local db=${PREFIX}$1
  deploy/local/postgres.sh psql -qc "CREATE DATABASE $db OWNER happychat" >/dev/null
  deploy/local/clickhouse.sh client -q "CREATE DATABASE $db"
}
sysenv() { # NAME: that system's settings, for env(1)
  local db=${PREFIX}$1
  echo "CHAT_TOPIC_PREFIX=$db" "PG_URL=${PG_BASE/\/happychat\?//$db?}" "CLICKHOUSE_DB=$db"
}
sys() { local name=$1; shift; env $(sysenv "$name") "$@"; }
for s in d s; do
  setup "$s"
  sys "$s" "$BIN" migrate >"$OUT/migrate-$s.log" 2>&1
  sys "$s" "$BIN" topics >"$OUT/topics-$s.log" 2>&1
done
# Both at the build's feature level (dev raises its own; split's is set
# before its instances start): sealed texts, as a deployment runs.
level=$(sys s "$BIN" features 2>/dev/null | sed -nE 's/.*understands up to ([0-9]+).*/\1/p')
sys s "$BIN" features --set "$level" >"$OUT/features-s.log" 2>&1

has() { [[ " $TARGETS " == *" $1 "* ]]; }
if has peer || has peerfloor || has peerfloorraw2 || has peerfloorgroup2; then
  "$PEER" -addr "$PEER_ADDR" >"$OUT/peer.log" 2>&1 & pids+=($!); peer_pid=$!
fi
if has dev; then
  env $(sysenv d) CHAT_HTTP_ADDR=$DEV_ADDR CHAT_INTERNAL_ADDR=$DEV_INT "$BIN" dev >"$OUT/dev.log" 2>&1 & pids+=($!); dev_pid=$!
  wait_http "http://$DEV_ADDR/readyz"
fi
if has split; then
  env $(sysenv s) CHAT_HTTP_ADDR=$CMD_ADDR CHAT_INTERNAL_ADDR=$CMD_INT "$BIN" command >"$OUT/command.log" 2>&1 & pids+=($!); cmd_pid=$!
  env $(sysenv s) CHAT_HTTP_ADDR=$RT_ADDR CHAT_INTERNAL_ADDR=$RT_INT CHAT_COMMAND_URL=http://$CMD_INT "$BIN" realtime >"$OUT/realtime.log" 2>&1 & pids+=($!); rt_pid=$!
  env $(sysenv s) CHAT_HTTP_ADDR=$PROJ_ADDR CHAT_INTERNAL_ADDR=$PROJ_INT "$BIN" projector >"$OUT/projector.log" 2>&1 & pids+=($!)
  wait_http "http://$CMD_ADDR/readyz"; wait_http "http://$RT_ADDR/healthz"
fi
# The broker of deploy/local's single node (the 3-broker cluster's run beside
# it when make test started it: their pids come first).
kpid=$(pgrep -f "kafka\.Kafka .*$ROOT/\.state/kafka/server\.properties" | head -1 || true)
[ -n "$kpid" ] || kpid=$(pgrep -f 'kafka\.Kafka' | head -1 || true)

# scrape "URL...": the /metrics of each, one after the other.
scrape() { local u; for u in $1; do curl -fsS "$u/metrics"; done; }

# owner_stages BEFORE AFTER: the mean time per stage over the run, ms, of
# the owners (happychat_command_owner_stage_seconds), the realtime's tail
# and its local delivery (tail_*, local_*: from the event time), and events
# per transaction.
owner_stages() {
  awk '
    FNR == 1 { f++ }
    /^happychat_command_owner_stage_seconds_(sum|count)/ {
      match($1, /stage="[a-z]+"/); st = substr($1, RSTART + 7, RLENGTH - 8)
      kind = ($1 ~ /_sum/) ? "sum" : "count"; v[f, st, kind] = $2; stages[st] = 1
    }
    /^happychat_realtime_(tail|local)_stage_seconds_(sum|count)/ {
      match($1, /stage="[a-z]+"/); st = substr($1, RSTART + 7, RLENGTH - 8)
      st = (($1 ~ /_tail_/) ? "tail_" : "local_") st
      kind = ($1 ~ /_sum/) ? "sum" : "count"; v[f, st, kind] = $2; stages[st] = 1
    }
    /^happychat_command_batch_events_(sum|count) / { kind = ($1 ~ /_sum/) ? "sum" : "count"; v[f, "events", kind] = $2 }
    END {
      for (st in stages) {
        c = v[2, st, "count"] - v[1, st, "count"]
        if (c > 0) printf "%s%s_ms=%.3f ", (st ~ /^(tail|local)_/) ? "" : "owner_", st, 1000 * (v[2, st, "sum"] - v[1, st, "sum"]) / c
      }
      c = v[2, "events", "count"] - v[1, "events", "count"]
      if (c > 0) printf "events_per_txn=%.2f txns=%d", (v[2, "events", "sum"] - v[1, "events", "sum"]) / c, c
    }' "$1" "$2"
}

# ticks PID: the CPU time (user + system, clock ticks) the process used so far.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
HZ=$(getconf CLK_TCK)

# floor MODE RATE TAG NAME [ARGS...]: one run of the Kafka floor, on a
# topic of its own with happychat's 12 partitions, on the same broker.
floor() {
  local mode=$1 rate=$2 tag=$3 name=$4; shift 4
  "$FLOOR" -brokers "$KAFKA_BROKERS" -topic "${PREFIX}f.$name.$rate" -mode "$mode" -rate "$rate" -dur "$DUR" \
    ${kpid:+-bpid "$kpid"} -json "$OUT/$tag-$name-$rate.json" "$@" >"$OUT/$tag-$name-$rate.txt" 2>&1 || true
}
floorline() { # NAME RATE TAG
  local line
  line=$(grep '^RESULT' "$OUT/$3-$1-$2.txt" | tail -1 || true)
  printf "%s %s sys=%s load=%s %s\n" "$(date -u +%T)" "$3" "$1" "$(cut -d' ' -f1 /proc/loadavg)" "${line:-RESULT target=$1 rate=$2 failed}" | tee -a "$OUT/results.txt"
}

run() { # TARGET RATE TAG
  local target=$1 rate=$2 tag=$3 args=()
  case $target in
  floor) floor serial "$rate" "$tag" floor; floorline floor "$rate" "$tag"; return ;;
  floorgroup) floor group "$rate" "$tag" floorgroup; floorline floorgroup "$rate" "$tag"; return ;;
  floorraw) floor raw "$rate" "$tag" floorraw; floorline floorraw "$rate" "$tag"; return ;;
  floorgroup2) floor group "$rate" "$tag" floorgroup2 -members 2; floorline floorgroup2 "$rate" "$tag"; return ;;
  floor2) floor pipelined "$rate" "$tag" floor2; floorline floor2 "$rate" "$tag"; return ;;
  floorraw2) floor raw2 "$rate" "$tag" floorraw2; floorline floorraw2 "$rate" "$tag"; return ;;
  floorack) floor acks "$rate" "$tag" floorack; floorline floorack "$rate" "$tag"; return ;;
  floorlinger) floor acks "$rate" "$tag" floorlinger -linger 5ms; floorline floorlinger "$rate" "$tag"; return ;;
  peerfloor | peerfloorraw2 | peerfloorgroup2)
    # The floor's measured window starts 2 s after its clock; the peer's
    # 0.15 s after the generator starts (its 1,000 sockets connect): start
    # the generator so that the two windows coincide.
    local fmode=group beside=floorbeside fargs=()
    [ "$target" = peerfloorraw2 ] && fmode=raw2 beside=floorraw2beside
    [ "$target" = peerfloorgroup2 ] && beside=floorgroup2beside fargs=(-members 2)
    floor "$fmode" "$rate" "$tag" "$beside" -warm 2s "${fargs[@]}" &
    local fpid=$!
    for _ in $(seq 1 300); do grep -q '^LOAD begins' "$OUT/$tag-$beside-$rate.txt" 2>/dev/null && break; sleep 0.05; done
    sleep 1.85
    args=(-target centrifugo -caddr "$PEER_ADDR" -spids "$peer_pid") ;;
  peer) args=(-target centrifugo -caddr "$PEER_ADDR" -spids "$peer_pid") ;;
  dev) args=(-target happychat -base "http://$DEV_ADDR" -metrics "http://$DEV_INT" -spids "$dev_pid${kpid:+,$kpid}") ;;
  split) args=(-target happychat -base "http://$CMD_ADDR" -wsbase "http://$RT_ADDR" -metrics "http://$RT_INT"
    -spids "$cmd_pid,$rt_pid${kpid:+,$kpid}") ;;
  esac
  local json=$OUT/$tag-$target-$rate.json cmdm=
  # the owners' and the tail's stages (split: two processes)
  case $target in dev) cmdm=http://$DEV_INT ;; split) cmdm="http://$CMD_INT http://$RT_INT" ;; esac
  [ -n "$cmdm" ] && scrape "$cmdm" >"$OUT/$tag-$target-$rate.before.prom"
  # The broker's own CPU during the load window (issue 16's broker goal;
  # the generator's server CPU adds it to the server's): sampled twice a
  # second, the window cut out afterwards from the run's end, its drain and
  # its length, so the logins and joins before it do not count.
  local sampler= broker=
  if [ -n "$kpid" ] && [[ $target != peer* ]]; then
    (while :; do echo "$(date +%s.%N) $(ticks "$kpid")"; sleep 0.5; done) >"$OUT/$tag-$target-$rate.broker" &
    sampler=$!
  fi
  "$LIMITS" -mode fanout "${args[@]}" -send ws -n 1000 -rooms 50 -rate "$rate" -dur "$DUR" -drain 10s -seed 16 \
    -json "$json" >"$OUT/$tag-$target-$rate.txt" 2>&1 || true
  local line stages=
  if [ -n "$cmdm" ]; then
    scrape "$cmdm" >"$OUT/$tag-$target-$rate.after.prom"
    stages=$(owner_stages "$OUT/$tag-$target-$rate.before.prom" "$OUT/$tag-$target-$rate.after.prom")
  fi
  if [ -n "$sampler" ]; then
    kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true
    broker=$(python3 - "$json" "$OUT/$tag-$target-$rate.broker" "$HZ" <<'PY' 2>/dev/null || true
import json, sys
d = json.load(open(sys.argv[1]))
s = [tuple(map(float, l.split())) for l in open(sys.argv[2]) if len(l.split()) == 2]
end = s[-1][0] - d["drain_s"]
a = min(s, key=lambda x: abs(x[0] - (end - d["window_s"])))
b = min(s, key=lambda x: abs(x[0] - end))
cpu = (b[1] - a[1]) / float(sys.argv[3])
sends = d["acked"] * (b[0] - a[0]) / d["window_s"]
print("broker_cores=%.3f broker_us_per_send=%.1f" % (cpu / (b[0] - a[0]), 1e6 * cpu / max(sends, 1)))
PY
)
  fi
  line=$(grep '^RESULT' "$OUT/$tag-$target-$rate.txt" | tail -1 || true)
  printf "%s %s sys=%s load=%s %s\n" "$(date -u +%T)" "$tag" "$target" "$(cut -d' ' -f1 /proc/loadavg)" "${line:-RESULT target=$target rate=$rate failed}${stages:+ $stages}${broker:+ $broker}" | tee -a "$OUT/results.txt"
  if [ -n "${beside:-}" ]; then wait "$fpid" || true; floorline "$beside" "$rate" "$tag"; fi
}

# Warm the broker first: a broker started minutes ago spends much of its
# CPU compiling (43 % in C2's threads in its first minute of load, 5 %
# after six: docs/benchmarks.md, "The broker's requests, counted"), which
# would land on whichever run came first. Not recorded.
if [ "$WARM" != 0 ] && { has dev || has split; }; then
  if has dev; then warm=(-base "http://$DEV_ADDR"); else warm=(-base "http://$CMD_ADDR" -wsbase "http://$RT_ADDR"); fi
  echo "$(date -u +%T) warming the broker for $WARM at 1000 sends/s"
  "$LIMITS" -mode fanout -target happychat "${warm[@]}" -send ws -n 1000 -rooms 50 -rate 1000 -dur "$WARM" -drain 5s -seed 61 \
    >"$OUT/warm.txt" 2>&1 || true
fi
for rate in $RATES; do
  for t in $TARGETS; do run "$t" "$rate" load; done
done
for rate in $SAT; do
  for t in $TARGETS; do run "$t" "$rate" sat; done
done
# One latency histogram picture per offered rate, every system in it.
python3 deploy/peers/histograms.py "$OUT" || true
echo "results in $OUT/results.txt"
