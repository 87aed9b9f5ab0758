#!/usr/bin/env bash
# Print the connection settings of the local servers, for:
#   eval "$(deploy/local/env.sh)"
# KAFKA_CLUSTER_BROKERS (the 3-broker cluster of kafka-cluster.sh) and
# KAFKA_SECURE_* (the SASL_SSL node of kafka-secure.sh: its listener, the CA
# of its certificate, the directory of its SCRAM users' password files) are
# printed whether or not those run: their tests skip, or fail under CI, when
# they do not answer.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
printf "export KAFKA_BROKERS=127.0.0.1:%s PG_URL='%s' CLICKHOUSE_ADDR=127.0.0.1:%s CLICKHOUSE_DB=happychat\n" \
  "$KAFKA_PORT" "$PG_URL" "$CH_TCP_PORT"
printf 'export KAFKA_CLUSTER_BROKERS=%s\n' "$KAFKA_CLUSTER_BROKERS"
printf "export KAFKA_SECURE_BROKERS=127.0.0.1:%s KAFKA_SECURE_CA='%s' KAFKA_SECURE_SECRETS='%s'\n" \
  "$KAFKA_SECURE_PORT" "$STATE_DIR/kafka-secure/tls/ca.pem" "$STATE_DIR/kafka-secure/secrets"
# axe-core for the browser tests' accessibility checks (browser.sh install).
if [[ -s $STATE_DIR/axe/axe.min.js ]]; then
  printf "export HAPPYCHAT_AXE='%s'\n" "$STATE_DIR/axe/axe.min.js"
fi
