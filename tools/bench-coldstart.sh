#!/usr/bin/env bash
# Cold start and worker memory under aws-lambda-rie: builds each function as
# Lambda does (for this machine's GOARCH) and a minimal aws-lambda-go
# handler, runs each under the emulator against the local DynamoDB/SQS
# emulators and simulators, and prints process start to first response
# (median of 7, interleaved) and the sync worker's peak RSS for batches of
# 10 and 100 jobs. Then prints the arm64 binary sizes `make build` makes.
#
# Usage: tools/bench-coldstart.sh
set -euo pipefail
cd "$(dirname "$0")/.."

rie_version=v0.0.0-20261030222936-bef5c4ba774d
if ! command -v aws-lambda-rie >/dev/null && [ ! -x "$(go env GOPATH)/bin/aws-lambda-rie" ]; then
	go install "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@${rie_version}"
fi

HUBSEND_COLDSTART=1 go test -count=1 -timeout 10m -run '^TestColdStartAndMemory$' -v ./internal/bench/ |
	grep -E 'cold start|above the|warm invoke|syncworker batch|^(--- |ok|FAIL|PASS)'

make --no-print-directory build >/dev/null
echo "arm64 binaries (make build):"
for f in .build/*/bootstrap; do
	printf '  %-12s %6.1f MB  (zip %6.1f MB)\n' "$(basename "$(dirname "$f")")" \
		"$(echo "$(stat -c %s "$f") / 1048576" | bc -l)" "$(echo "$(stat -c %s "${f%/bootstrap}.zip") / 1048576" | bc -l)"
done
