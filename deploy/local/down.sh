#!/usr/bin/env bash
# Stop the local Kafka, PostgreSQL and ClickHouse, and the 3-broker Kafka
# cluster and the SASL_SSL Kafka node if they run (state is kept). Not
# running is fine.
set -euo pipefail
LOG_TAG=down
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$DEPLOY_LOCAL_DIR"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
servers=(kafka postgres clickhouse)
./kafka-secure.sh status >/dev/null 2>&1 && servers+=(kafka-secure)
for n in 1 2 3; do
  if ./kafka-cluster.sh pid "$n" >/dev/null; then servers+=(kafka-cluster); break; fi
done
pids=()
for s in "${servers[@]}"; do
  ./"$s".sh stop >"$tmp/$s.out" 2>&1 &
  pids+=($!)
done
rc=0
i=0
for s in "${servers[@]}"; do
  wait "${pids[$i]}" || rc=1
  cat "$tmp/$s.out" >&2
  i=$((i + 1))
done
exit $rc
