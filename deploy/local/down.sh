#!/usr/bin/env bash
# Stop the local Kafka, PostgreSQL and ClickHouse (state is kept).
# Not running is fine.
set -euo pipefail
LOG_TAG=down
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$DEPLOY_LOCAL_DIR"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pids=()
for s in kafka postgres clickhouse; do
  ./"$s".sh stop >"$tmp/$s.out" 2>&1 &
  pids+=($!)
done
rc=0
i=0
for s in kafka postgres clickhouse; do
  wait "${pids[$i]}" || rc=1
  cat "$tmp/$s.out" >&2
  i=$((i + 1))
done
exit $rc
