# hubsend — build, test and run.
#
#   make test         unit and integration tests (starts the emulators itself)
#   make fuzz-short   every fuzz target in the module for 10 s each
#   make lint         go mod tidy check, go vet, staticcheck, cfn-lint of template.yaml
#   make build        Lambda zips in .build/ (linux/arm64, provided.al2023)
#   make run          the whole system locally (ARGS=... passes flags)
#   make bench        benchmarks: micro, pipeline, cold start (see BENCHMARKS.md)
#   make loadtest     the full load and fault tests (10,000 webhooks, 10,000 customers)
#   make bench-scheduler  the scheduler's fan-out (200 sources) and reconciliation cost
#   make bench-scale  the bulk lane at scale: 100,000 customers, latency profile, faults
#
# sam build calls the build-<LogicalId> targets (Metadata BuildMethod: makefile).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO            ?= go
STATICCHECK   := $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZTIME      ?= 10s
BUILD_DIR     := .build

# Lambda's provided.al2023 runtime on Graviton: a static linux/arm64 binary
# named bootstrap, without the RPC shim only the go1.x runtime used.
LAMBDA_ENV    := CGO_ENABLED=0 GOOS=linux GOARCH=arm64
LAMBDA_FLAGS  := -tags lambda.norpc -trimpath -ldflags='-s -w'

# Function folders that have code; a folder without main.go is skipped.
FUNCTIONS     := $(patsubst functions/%/main.go,%,$(wildcard functions/*/main.go))

# One target per function resource in template.yaml; the logical id
# lower-cased without "Function" names its folder (a samtemplate test checks
# the list against the template).
SAM_TARGETS   := build-ConfigApiFunction build-WebhookFunction build-SyncWorkerFunction build-BulkWorkerFunction build-SchedulerFunction build-SourceTickFunction

.PHONY: help test fuzz-short lint build run bench bench-scheduler bench-scale loadtest clean $(SAM_TARGETS)
.PRECIOUS: $(BUILD_DIR)/%/bootstrap

help:
	@sed -n 's/^#   make /  make /p' $(firstword $(MAKEFILE_LIST))

# npm ci rewrites node_modules/.package-lock.json, so it is older than
# package-lock.json exactly when the installed emulators are stale.
node_modules/.package-lock.json: package-lock.json package.json
	npm ci --no-audit --no-fund
	@touch $@

test: node_modules/.package-lock.json
	$(GO) test -count=1 -timeout 14m ./...

fuzz-short: node_modules/.package-lock.json
	./tools/fuzz-short.sh $(FUZZTIME)

lint:
	$(GO) mod tidy -diff
	$(GO) vet ./...
	$(STATICCHECK) ./...
	./tools/cfn-lint.sh

build: $(FUNCTIONS:%=$(BUILD_DIR)/%.zip)

# Always rebuilt: the Go build cache decides what is stale.
$(BUILD_DIR)/%/bootstrap: FORCE
	@mkdir -p $(@D)
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $@ ./functions/$*

$(BUILD_DIR)/%.zip: $(BUILD_DIR)/%/bootstrap
	rm -f $@
	cd $(BUILD_DIR)/$* && zip -q -X ../$*.zip bootstrap

$(SAM_TARGETS): build-%Function:
	@test -n "$(ARTIFACTS_DIR)" || { echo "ARTIFACTS_DIR is not set; sam build sets it" >&2; exit 1; }
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o "$(ARTIFACTS_DIR)/bootstrap" ./functions/$(shell echo '$*' | tr '[:upper:]' '[:lower:]')

# Built, then run directly (not through go run) so Ctrl-C reaches the stack
# alone and it stops cleanly with exit status 0.
run: node_modules/.package-lock.json
	$(GO) build -o $(BUILD_DIR)/hubsend-local ./cmd/hubsend-local
	exec $(BUILD_DIR)/hubsend-local $(ARGS)

# Micro benchmarks of every package, then the pipeline (one whole run, its
# numbers as custom metrics), then cold starts and worker memory.
bench: node_modules/.package-lock.json
	$(GO) test -run '^$$' -bench . -benchmem -timeout 20m $$($(GO) list ./... | grep -v /internal/bench)
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 20m ./internal/bench/
	./tools/bench-coldstart.sh

loadtest: node_modules/.package-lock.json
	./tools/bench-load.sh

# The scheduler at scale (BENCHMARKS.md, "Scheduler fan-out and
# reconciliation"): 200 sources through the tick queue for three one-minute
# ticks, then a reconciliation pass with DynamoDB requests counted.
bench-scheduler: node_modules/.package-lock.json
	$(GO) test -count=1 -timeout 30m ./internal/scheduler/ -run 'TestSchedulerReadsEverySourceEveryPeriod$$' -v \
		-scheduler.sources=200 -scheduler.period=1m -scheduler.ticks=3 -scheduler.latency=100ms -scheduler.compare
	$(GO) test -count=1 -timeout 30m ./internal/scheduler/ -run 'TestReconcileThroughput$$' -v -reconcile.measure=20000
	$(GO) test -count=1 -timeout 30m ./internal/scheduler/ -run 'TestReconcileThroughput$$' -v -reconcile.measure=20000 -reconcile.latency=100ms

# The bulk lane (BENCHMARKS.md, "Bulk lane at scale"): first loads of
# HUBSEND_SCALE_CUSTOMERS (default 100,000) with the simulators' latency
# profile, live-change latency beside a backfill, then the bulk fault suite
# at 20,000 customers.
bench-scale: node_modules/.package-lock.json
	$(GO) test -run '^$$' -bench BulkScale -benchtime 1x -timeout 60m ./internal/bench/
	HUBSEND_LOAD=1 $(GO) test -count=1 -run 'TestBulkLoadThroughFaults' -timeout 30m -v ./internal/bench/

clean:
	rm -rf $(BUILD_DIR)

FORCE:
