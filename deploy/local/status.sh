#!/usr/bin/env bash
# Status of the local servers; exits non-zero unless all three are running.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")" || exit 1
rc=0
for s in kafka postgres clickhouse; do
  ./"$s".sh status || rc=1
done
./browser.sh status || true
exit $rc
