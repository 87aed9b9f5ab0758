#!/usr/bin/env bash
# Print the connection settings of the local servers, for:
#   eval "$(deploy/local/env.sh)"
# KAFKA_CLUSTER_BROKERS (the 3-broker cluster of kafka-cluster.sh) is printed
# whether or not the cluster runs: its tests (internal/kafkacluster) skip, or
# fail under CI, when it does not answer.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
printf "export KAFKA_BROKERS=127.0.0.1:%s PG_URL='%s' CLICKHOUSE_ADDR=127.0.0.1:%s CLICKHOUSE_DB=happychat\n" \
  "$KAFKA_PORT" "$PG_URL" "$CH_TCP_PORT"
printf 'export KAFKA_CLUSTER_BROKERS=%s\n' "$KAFKA_CLUSTER_BROKERS"
