#!/usr/bin/env bash
# Run schemathesis against a happychat dev of its own:
#   deploy/local/schemathesis.sh <st> <happychat>
# <st> is the schemathesis CLI of the venv the Makefile builds (pinned
# version), <happychat> the binary `make build` makes. The script starts
# `happychat dev` on a free loopback port with a fresh topic prefix and state
# directory, against the servers of deploy/local (env.sh), waits for /readyz,
# takes a user token from POST /v1/sessions, runs every check of schemathesis
# on the document the server serves (/v1/openapi.yaml), and stops the server.
#
# A user token (not the admin secret) is sent on every request: it opens
# every route but approve and the proposals list, where schemathesis then
# checks the 403; with the admin secret, join, leave, send and read would all
# be 403 (an admin is not a user). docs/testing.md has the figures.
#
# Rules OpenAPI cannot state are in the document's x-rules; the hooks of
# schemathesis_hooks.py accept exactly their 400s (see there).
#
# One worker: hypothesis parses lambdas with ast.parse, which CPython 3.11
# does not run safely from two threads ("AST constructor recursion depth
# mismatch" runtime errors).
#
# Settings (environment): ST_MAX_EXAMPLES (per operation), ST_SEED (the same
# seed generates the same cases), ST_FLAGS (more flags for `st run`, e.g.
# --include-path /v1/rooms), ST_REPORT_DIR (the JUnit report).
set -euo pipefail
st=${1:?usage: schemathesis.sh <st> <happychat>}
bin=${2:?usage: schemathesis.sh <st> <happychat>}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
eval "$("$here/env.sh")"

: "${ST_MAX_EXAMPLES:=50}"
: "${ST_SEED:=20261122}"
: "${ST_FLAGS:=}"
: "${ST_REPORT_DIR:=artifacts/schemathesis}"

state=$(mktemp -d)
pid=
cleanup() {
  if [[ -n $pid ]]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$state"
}
trap cleanup EXIT

# A free port: bind :0, read the port, release it. Another process could
# take it in between; the wait below then fails loudly rather than testing
# the wrong server.
freeport() {
  "$(dirname "$st")/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
port=$(freeport)
iport=$(freeport)
base="http://127.0.0.1:$port"
ibase="http://127.0.0.1:$iport"

CHAT_HTTP_ADDR="127.0.0.1:$port" \
CHAT_INTERNAL_ADDR="127.0.0.1:$iport" \
CHAT_TOPIC_PREFIX="st$(date +%s)$$" \
HAPPYCHAT_STATE_DIR="$state" \
CHAT_ADMIN_TOKEN="schemathesis-admin-token-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" \
CHAT_RATE_LIMIT_EXEMPT=127.0.0.0/8,::1 \
CHAT_PUSH_RATE=1000 CHAT_PUSH_BURST=1000 \
  "$bin" dev >"$state/dev.log" 2>&1 &
pid=$!

for _ in $(seq 1 120); do
  if curl -fsS -o /dev/null "$base/readyz" 2>/dev/null; then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "schemathesis: happychat dev exited; its log:" >&2
    cat "$state/dev.log" >&2
    exit 1
  fi
  sleep 0.5
done
curl -fsS -o /dev/null "$base/readyz" || {
  echo "schemathesis: $base/readyz never answered 200; the log:" >&2
  cat "$state/dev.log" >&2
  exit 1
}

tok=$(curl -fsS -H 'Content-Type: application/json' -d '{"nickname":"schemathesis"}' "$base/v1/sessions" |
  "$(dirname "$st")/python" -c 'import json,sys; print(json.load(sys.stdin)["token"])')

mkdir -p "$ST_REPORT_DIR"
status=0
# Two runs of the one document: the public routes against the public
# listener, and the routes the document places on the internal listener
# (/internal/v1/*, /metrics: ADR 0005) against that one; the public listener
# must not serve those (404), which its Go tests check.
internal_paths='^/(internal/|metrics$)'
st_run() { # <url> <report name> <filter flags...>
  local url=$1 report=$2
  shift 2
  # shellcheck disable=SC2086 # ST_FLAGS is a list of flags
  SCHEMATHESIS_HOOKS=schemathesis_hooks PYTHONPATH="$here" \
  "$st" run "$base/v1/openapi.yaml" --url "$url" \
    --checks all --max-examples "$ST_MAX_EXAMPLES" --seed "$ST_SEED" \
    --workers 1 --request-timeout 10 \
    -H "Authorization: Bearer $tok" \
    --report junit --report-junit-path "$ST_REPORT_DIR/$report.xml" \
    "$@" $ST_FLAGS
}
# The logout revokes the token it is called with (every later call with it
# is 401): it runs last, alone, with a token of its own, so that the other
# runs keep a valid one.
logout_path='^/v1/sessions/current$'
st_run "$base" junit --exclude-path-regex "$internal_paths|$logout_path" || status=$?
st_run "$ibase" junit-internal --include-path-regex "$internal_paths" || status=$?
tok=$(curl -fsS -H 'Content-Type: application/json' -d '{"nickname":"schemathesis-logout"}' "$base/v1/sessions" |
  "$(dirname "$st")/python" -c 'import json,sys; print(json.load(sys.stdin)["token"])')
st_run "$base" junit-logout --include-path-regex "$logout_path" || status=$?
if [[ $status -ne 0 ]]; then
  echo "schemathesis: failures above (server log: kept in $ST_REPORT_DIR/dev.log)" >&2
  cp "$state/dev.log" "$ST_REPORT_DIR/dev.log"
fi
exit "$status"
