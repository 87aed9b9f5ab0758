# The two commands of the README:
#   make run   installs and starts what is missing, then runs happychat dev
#   make test  installs and starts the real servers, then runs every test
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
GO ?= go
BIN := bin/happychat
# The tools beside it (bin/happychat-chaos, bin/happychat-bench) are
# binaries of their own, so that $(BIN), the one that runs in production,
# carries only what serves traffic.
CHAOS_BIN := bin/happychat-chaos
LOCAL := deploy/local
# Fuzz targets run briefly in every test run; longer by hand (FUZZTIME=5m).
FUZZTIME ?= 10s

.PHONY: all build run dev-embedded test test-short vet lint mutation fuzz schemathesis up down status bench peers clean cluster-up cluster-down

all: build

# build: all three into bin/ (one go build: shared packages compile once).
build:
	$(GO) build -trimpath -ldflags "-X main.version=$$(git describe --always --dirty 2>/dev/null || echo dev)" -o bin/ ./cmd/happychat ./cmd/happychat-chaos ./cmd/happychat-bench

up:
	$(LOCAL)/up.sh >/dev/null

down:
	$(LOCAL)/down.sh

status:
	$(LOCAL)/status.sh

# The cluster of the tests expires idle transactional ids after 20 s (Kafka:
# 7 days), so that the owners' recovery from an expired id is tested. Not
# shorter: a kill of the active controller's node can keep an owner from
# its transaction coordinator ~8 s, and with 10 s its id expired during
# the failover (INVALID_PRODUCER_ID_MAPPING, 19.7 s without writes in
# txn-coordinator-kill), which no real cluster does. The
# tests and the chaos suite get it too: a broker they kill or stop is
# started again by kafka-cluster.sh, which writes its settings afresh from
# the environment (without it, the broker would come back with Kafka's).
CLUSTER_TEST_ENV := HAPPYCHAT_CLUSTER_TXN_ID_EXPIRATION_MS=20000 HAPPYCHAT_CLUSTER_TXN_CLEANUP_INTERVAL_MS=1000

# cluster-up: the 3-broker Kafka cluster for failover tests (docs/cluster.md),
# beside the single node that `up` starts.
cluster-up:
	$(CLUSTER_TEST_ENV) $(LOCAL)/kafka-cluster.sh start

cluster-down:
	$(LOCAL)/kafka-cluster.sh stop

# run: the whole system on one address against the local Kafka, PostgreSQL
# and ClickHouse that deploy/local starts.
run: build
	$(LOCAL)/up.sh >/dev/null
	eval "$$($(LOCAL)/env.sh)"; exec $(BIN) dev

# dev-embedded: the same with the embedded Kafka-protocol broker (kfake).
dev-embedded: build
	$(LOCAL)/up.sh >/dev/null
	eval "$$($(LOCAL)/env.sh)"; unset KAFKA_BROKERS; exec $(BIN) dev

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l . | tee /dev/stderr)" || { echo "gofmt: files above need formatting"; exit 1; }

# Tools pinned here and installed by `go install` from the Go proxy into
# bin/tools, so that CI and every machine lint and mutate with the same
# versions (nothing installed by hand).
TOOLS := $(CURDIR)/bin/tools
GOLANGCI_LINT_VERSION := v2.15.0
GREMLINS_VERSION := v0.6.0

$(TOOLS)/golangci-lint-$(GOLANGCI_LINT_VERSION):
	GOBIN=$(TOOLS) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(TOOLS)/golangci-lint $@

# schemathesis: pinned, from PyPI, into a venv of its own under bin/tools.
SCHEMATHESIS_VERSION := 4.32.5
SCHEMATHESIS_VENV := $(TOOLS)/schemathesis-$(SCHEMATHESIS_VERSION)
$(SCHEMATHESIS_VENV)/bin/st:
	python3 -m venv $(SCHEMATHESIS_VENV)
	$(SCHEMATHESIS_VENV)/bin/pip install --quiet schemathesis==$(SCHEMATHESIS_VERSION)

$(TOOLS)/gremlins-$(GREMLINS_VERSION):
	GOBIN=$(TOOLS) $(GO) install github.com/go-gremlins/gremlins/cmd/gremlins@$(GREMLINS_VERSION)
	mv $(TOOLS)/gremlins $@

# mutation: gremlins on the pure-logic packages, one worker, tests with
# -short (no servers); by hand, not in CI: about 2½ hours on two cores
# (command alone takes ~40 minutes).
# docs/testing.md has the table and the equivalent mutants.
GREMLINS_FLAGS := --workers 1 --timeout-coefficient 30 --threshold-efficacy 85
mutation: $(TOOLS)/gremlins-$(GREMLINS_VERSION)
	set -e; export GOFLAGS='-short -count=1'; unset KAFKA_BROKERS PG_URL CLICKHOUSE_ADDR CI; \
	$< unleash $(GREMLINS_FLAGS) ./schemas/moderation; \
	$< unleash $(GREMLINS_FLAGS) ./schemas/token; \
	$< unleash $(GREMLINS_FLAGS) ./schemas/idgen; \
	$< unleash $(GREMLINS_FLAGS) --exclude-files '^(moderation|token|idgen|jsonschema)/' ./schemas; \
	$< unleash $(GREMLINS_FLAGS) $(MUTATION_REALTIME) ./realtime; \
	$< unleash $(GREMLINS_FLAGS) $(MUTATION_COMMAND) ./command; \
	$< unleash $(GREMLINS_FLAGS) $(MUTATION_FEED) ./projector/internal/feed; \
	$< unleash $(GREMLINS_FLAGS) $(MUTATION_PROJECTOR) ./projector

# The role packages are mutated in their pure-logic files only: every other
# file is excluded by name (gremlins has no include filter), so a new file
# of these packages enters the scope until it is listed here, and lowers the
# efficacy if its tests need servers: list it, or test it.
# realtime: the send queue and the ring of recent frames.
MUTATION_REALTIME := -E '^(closecodes|commands|config|conn|doc|frames|http|hub|limits|locator|metrics|resume|service|upgrade|wire)\.go$$' -E '^web/'
# projector: the consumer loop, and the history sink and PostgreSQL fold.
MUTATION_FEED := -E '^(admin|doc)\.go$$'
MUTATION_PROJECTOR := -E '^internal/' -E '^(clickhouse|doc|metrics|migrate|postgres|postgres_apply|postgres_sink|postgres_sql|replay|replay_clickhouse|replay_postgres|replay_tracker|upgrade)\.go$$'
# command: the decide functions, the write-side fold and the field rules.
MUTATION_COMMAND := -E '^(app|dedupe|doc|features|forward|forward_auth|http|lease|metrics|owner|owner_dedupe|owner_snapshot|owner_takeover|owner_txn|ownership|ratelimit|service|session_cap|sessions|snapshot|snapshot_store|startup|switch_leave|tail)\.go$$'

# lint: golangci-lint with the boundaries of the card (depguard) and the
# correctness linters of .golangci.yml; part of `make test`.
lint: $(TOOLS)/golangci-lint-$(GOLANGCI_LINT_VERSION)
	$< run ./...

# FAIL_DIGEST repeats a failed go test run's failures last: a CI's summary
# may keep only the head and the end of the output, and the failing test's
# own lines sit in the middle, before the later packages' results.
FAIL_DIGEST = printf '\n==== the failures of %s, repeated ====\n' $(1); { grep -E -A12 -- '^ *--- FAIL|^panic:|^FAIL' $(1) | tail -n 80; } || true

test-short:
	$(GO) test -short -race -count=1 ./...

# test: unit and integration tests against real Apache Kafka (the single node,
# the 3-broker cluster and the SASL_SSL node of kafka-secure.sh), PostgreSQL,
# ClickHouse and Chromium, all started by the project's own scripts.
# The peers' own tests run too (their unit tests and lint in `peers`, the
# Kafka floor's writers against the broker here): a benchmark tool that
# breaks unnoticed would report wrong numbers.
test: vet lint peers
	HAPPYCHAT_CLUSTER=1 HAPPYCHAT_SECURE=1 $(CLUSTER_TEST_ENV) $(LOCAL)/up.sh >/dev/null
	$(LOCAL)/browser.sh install >/dev/null
	@mkdir -p artifacts
	eval "$$($(LOCAL)/env.sh)"; export CI="$${CI:-1}"; \
	  $(CLUSTER_TEST_ENV) $(GO) test -race -count=1 -timeout 30m ./... 2>&1 | tee artifacts/go-test.log \
	  || { status=$$?; $(call FAIL_DIGEST,artifacts/go-test.log); exit $$status; }
	eval "$$($(LOCAL)/env.sh)"; $(GO) test -C deploy/peers/kafkafloor -race -count=1 ./...
	$(MAKE) fuzz
	$(MAKE) schemathesis
	$(MAKE) chaos CHAOS_FLAGS="--scenario $(CHAOS_CI_SCENARIOS)"

# -fuzzminimizetime: go minimizes every new interesting input for up to 60 s
# by default, and a run whose -fuzztime ends during a minimization fails with
# "context deadline exceeded" (FuzzWriteBodies did, twice in CI, after new
# code paths made many inputs interesting); 1 s keeps the short runs whole.
FUZZMINIMIZETIME ?= 1s
# Every target runs; the step fails if any of them found something (the
# loop's status alone was only its last run's). A run that ends with
# "context deadline exceeded" and wrote no failing input was cut while
# minimizing a new interesting input at the very end of -fuzztime (seen in
# CI with FuzzRoomsCursor despite -fuzzminimizetime): it is run once more.
# The recipe runs under `bash -euo pipefail` (.SHELLFLAGS): the failing
# run's status is taken with `&& rc=0 || rc=$?`, or errexit would end
# the loop at once, before its output and that rule (a CI run of
# 85397e3 stopped at FuzzSoften that way, showing nothing).
fuzz:
	$(GO) test -list '^Fuzz' ./... | awk '/^Fuzz/{f[n++]=$$1} /^ok/{for(i=0;i<n;i++) print $$2, f[i]; n=0}' | { \
	  status=0; \
	  while read -r pkg fz; do \
	    echo "fuzz $$pkg $$fz ($(FUZZTIME))"; \
	    out=$$($(GO) test -run '^$$' -fuzz "^$$fz$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) "$$pkg" </dev/null 2>&1) && rc=0 || rc=$$?; \
	    echo "$$out"; \
	    if [ $$rc -ne 0 ] && grep -q 'context deadline exceeded' <<<"$$out" && ! grep -q 'Failing input written' <<<"$$out"; then \
	      echo "fuzz $$fz: cut while minimizing at the end of its time, not a finding: once more"; \
	      $(GO) test -run '^$$' -fuzz "^$$fz$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) "$$pkg" </dev/null || status=1; \
	    elif [ $$rc -ne 0 ]; then status=1; fi; \
	  done; exit $$status; }

# schemathesis: every check of schemathesis against a happychat dev of its
# own (deploy/local/schemathesis.sh starts and stops it), on the servers of
# deploy/local, which must run. ST_MAX_EXAMPLES and ST_SEED as in
# docs/testing.md.
schemathesis: build $(SCHEMATHESIS_VENV)/bin/st
	$(LOCAL)/schemathesis.sh $(SCHEMATHESIS_VENV)/bin/st $(BIN)

bench: build
	$(LOCAL)/up.sh >/dev/null
	eval "$$($(LOCAL)/env.sh)"; $(GO) test -run '^$$' -bench . -benchtime 1x ./...

# peers: the side-by-side peers of docs/benchmarks.md ("Which generator is
# right", "The floor"): the load generator that drives happychat and the
# in-memory centrifuge server alike, that server, and the Kafka floor. Each
# is a module of its own, so neither the production go.mod nor ./...
# carries them; their unit tests and lint run here.
peers: $(TOOLS)/golangci-lint-$(GOLANGCI_LINT_VERSION)
	$(GO) test -C deploy/peers/limits -short ./...
	$(GO) vet -C deploy/peers/limits ./...
	$(GO) vet -C deploy/peers/centrifuge-min ./...
	$(GO) test -C deploy/peers/kafkafloor -short ./...
	$(GO) vet -C deploy/peers/kafkafloor ./...
	cd deploy/peers/kafkafloor && $(TOOLS)/golangci-lint-$(GOLANGCI_LINT_VERSION) run ./...
	cd deploy/peers/limits && $(TOOLS)/golangci-lint-$(GOLANGCI_LINT_VERSION) run ./...
	cd deploy/peers/centrifuge-min && $(TOOLS)/golangci-lint-$(GOLANGCI_LINT_VERSION) run ./...
	$(GO) build -C deploy/peers/limits -o "$(CURDIR)/bin/peer-limits" .
	$(GO) build -C deploy/peers/centrifuge-min -o "$(CURDIR)/bin/peer-centrifuge" .
	$(GO) build -C deploy/peers/kafkafloor -o "$(CURDIR)/bin/peer-kafkafloor" .

clean:
	rm -rf bin artifacts

# chaos: the fault-injection suite (docs/reliability.md) against the servers
# of deploy/local. It stops and restarts those servers, so it never runs
# beside other tests. CHAOS_SIZE=full is the issue's size (by hand);
# CHAOS_FLAGS passes more flags (e.g. --scenario baseline,poison).
CHAOS_SIZE ?= small
# The previous release that the rolling-upgrade scenario upgrades from,
# built from git: the last commit whose build understood feature level 1
# only (docs/command.md, "Rolling upgrades"). Move it forward when a
# release raises the level again.
CHAOS_UPGRADE_FROM ?= 966684981a61e9f2ea1ac7f416aae164ca2403d9
PREVIOUS_BIN := bin/happychat-previous
.PHONY: previous
previous:
	$(LOCAL)/build-previous.sh $(CHAOS_UPGRADE_FROM) $(PREVIOUS_BIN)
CHAOS_FLAGS ?=
# The scenarios CI runs (bounded size): all of them, each system at this
# build's feature level (rolling-upgrade runs first and raises it). The four
# store ones (store-outage, postgres-stall, clickhouse-stall,
# clickhouse-disk-full) run on a PostgreSQL and a ClickHouse the suite
# starts for them; the last five on the 3-broker cluster (a system of their
# own), which chaos therefore starts too.
CHAOS_CI_SCENARIOS ?= rolling-upgrade,baseline,projector-kill,kafka-restart,command-kill,command-stop,rolling-restart,clock-skew,network-partition,realtime-kill,slow-reader,poison,replay,replay-live,cold-join,store-outage,postgres-stall,clickhouse-stall,clickhouse-disk-full,leader-kill,leader-stop,txn-coordinator-kill,group-coordinator-kill,broker-rolling-restart
.PHONY: chaos
chaos: build previous
	HAPPYCHAT_CLUSTER=1 $(CLUSTER_TEST_ENV) $(LOCAL)/up.sh >/dev/null
	eval "$$($(LOCAL)/env.sh)"; $(CLUSTER_TEST_ENV) $(CHAOS_BIN) --bin $(BIN) --previous-bin $(PREVIOUS_BIN) --size $(CHAOS_SIZE) --report artifacts/chaos-$(CHAOS_SIZE).json $(CHAOS_FLAGS)
