#!/usr/bin/env bash
# Install what is missing and start Kafka, PostgreSQL and ClickHouse (local,
# non-default ports, state in ${HAPPYCHAT_STATE_DIR:-<repo>/.state}); with
# HAPPYCHAT_CLUSTER=1 also the 3-broker Kafka cluster (kafka-cluster.sh), with
# HAPPYCHAT_SECURE=1 also the SASL_SSL Kafka node (kafka-secure.sh).
# Idempotent: running servers are left alone. Prints the connection settings
# on stdout (eval "$(deploy/local/up.sh)" works); progress goes to stderr.
set -euo pipefail
LOG_TAG=up
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$DEPLOY_LOCAL_DIR"
t0=$(now_ms)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# 1. Installs: one apt-get run for whatever is missing; the Maven download of
#    the Kafka jars runs beside it when java and mvn are already there.
kafka_install_pid=
if command -v java >/dev/null && command -v mvn >/dev/null; then
  ./kafka.sh install >"$tmp/kafka-install.out" 2>&1 &
  kafka_install_pid=$!
fi
need_apt=()
command -v java >/dev/null || need_apt+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need_apt+=(maven)
[[ -x /usr/lib/postgresql/15/bin/initdb ]] || need_apt+=(postgresql)
[[ -x /usr/sbin/clickhouse-server && -x /usr/bin/clickhouse-client ]] || need_apt+=(clickhouse-server clickhouse-client)
((${#need_apt[@]} == 0)) || apt_install "${need_apt[@]}"
if [[ -n $kafka_install_pid ]]; then
  wait "$kafka_install_pid" || { cat "$tmp/kafka-install.out" >&2; die "kafka install failed"; }
  cat "$tmp/kafka-install.out" >&2
fi

# 2. Start them all at once (each script installs its own remaining bits:
#    Kafka jars, initdb) and wait for all of them.
servers=(kafka postgres clickhouse)
[[ ${HAPPYCHAT_CLUSTER:-} == 1 ]] && servers+=(kafka-cluster)
[[ ${HAPPYCHAT_SECURE:-} == 1 ]] && servers+=(kafka-secure)
pids=()
for s in "${servers[@]}"; do
  ./"$s".sh start >"$tmp/$s.out" 2>&1 &
  pids+=($!)
done
failed=()
i=0
for s in "${servers[@]}"; do
  if ! wait "${pids[$i]}"; then failed+=("$s"); fi
  cat "$tmp/$s.out" >&2
  i=$((i + 1))
done
((${#failed[@]} == 0)) || die "failed to start: ${failed[*]}"
log "all up in $(elapsed "$t0")"
./env.sh
