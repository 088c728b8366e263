#!/usr/bin/env bash
# The full load and fault tests: a burst of 10,000 signed webhooks at the
# local stack, and a sync of 10,000 customers through faults (worker killed
# and restarted, dynalite restarted from disk, slow SQS, SOAP fault storms,
# expired tokens, Contacthub 429 storms, duplicated and reordered jobs),
# each checked by the invariant checker. Loopback only; bounded in time.
#
# Usage: tools/bench-load.sh
set -euo pipefail
cd "$(dirname "$0")/.."

HUBSEND_LOAD=1 go test -count=1 -timeout 40m -run '^(TestWebhookBurst|TestSyncThroughFaults)$' -v ./internal/bench/
