#!/usr/bin/env bash
# Print the connection settings of the local servers, for:
#   eval "$(deploy/local/env.sh)"
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
printf "export KAFKA_BROKERS=127.0.0.1:%s PG_URL='%s' CLICKHOUSE_ADDR=127.0.0.1:%s CLICKHOUSE_DB=happychat\n" \
  "$KAFKA_PORT" "$PG_URL" "$CH_TCP_PORT"
