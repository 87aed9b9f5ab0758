#!/usr/bin/env bash
# Status of the local servers; exits non-zero unless all three are running
# (and, with HAPPYCHAT_CLUSTER=1, the 3-broker Kafka cluster too; with
# HAPPYCHAT_SECURE=1, the SASL_SSL Kafka node).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")" || exit 1
rc=0
for s in kafka postgres clickhouse; do
  ./"$s".sh status || rc=1
done
if [[ ${HAPPYCHAT_CLUSTER:-} == 1 ]]; then
  ./kafka-cluster.sh status || rc=1
else
  ./kafka-cluster.sh status || true
fi
if [[ ${HAPPYCHAT_SECURE:-} == 1 ]]; then
  ./kafka-secure.sh status || rc=1
else
  ./kafka-secure.sh status || true
fi
./browser.sh status || true
exit $rc
