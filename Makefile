# trialog — build, run and test. `make` (or `make help`) lists the targets.
# Variables can be set on the command line, e.g. `make test GOTESTFLAGS='-run TestX -v'`.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO          ?= go
PKGS        ?= ./...
GOTESTFLAGS ?=
FUZZTIME    ?= 10s
FUZZFLAGS   ?=
BENCHFLAGS  ?=
DATA_DIR    ?= $(or $(TRIALOG_DATA_DIR),.data)
TRIALOG_URL ?= http://127.0.0.1:8080
IMAGE_TAG   ?= dev
export DATA_DIR

.PHONY: help build pages bin/trialogd bin/trialog bin/litewitness trillian run demo test fhirclient deploy-check image fuzz bench bench-large lint db-stop clean

help: ## list the targets
	@echo 'usage: make TARGET [VAR=value ...]'
	@echo
	@grep -E '^[a-zA-Z_/-]+:.*## ' $(MAKEFILE_LIST) | \
		awk -F':.*## ' '{ printf "  %-12s %s\n", $$1, $$2 }'
	@echo
	@echo 'variables: GOTESTFLAGS (extra go test flags, e.g. -run X -v), FUZZTIME ($(FUZZTIME)),'
	@echo '  BENCHFLAGS, DATA_DIR ($(DATA_DIR)), TRIALOG_URL ($(TRIALOG_URL))'

build: bin/trialogd bin/trialog ## build bin/trialogd and bin/trialog

pages: ## build the pages' verifier (web/wasm to WebAssembly) into web/assets, which trialogd embeds
	cd web && $(GO) generate .

# go build decides what is stale, so these always run.
bin/trialogd: pages
	$(GO) build -o $@ ./cmd/trialogd

bin/trialog:
	$(GO) build -o $@ ./cmd/trialog

# litewitness (filippo.io/torchwood), the independent C2SP tlog-witness the
# tests and the P8 benchmark run, built in a module of its own.
bin/litewitness:
	$(GO) run ./scripts/build-litewitness -o $@

# Trillian's log server and signer, of the version go.mod pins, for the
# external-Trillian test (cmd/trialogd). go.sum covers only the Trillian
# packages trialogd imports, not all that these commands import, so they are
# built in a copy of go.mod and go.sum where -mod=mod may add the sums: the
# module's own files stay untouched and its pins hold. Rebuilt only when the
# pinned version changes.
TRILLIAN_BIN := $(CURDIR)/bin/trillian
trillian: ## build Trillian's log server and signer into bin/trillian (for the external-Trillian test)
	@want=$$($(GO) list -m -f '{{.Version}}' github.com/google/trillian); \
	if [ "$$(cat '$(TRILLIAN_BIN)/VERSION' 2>/dev/null)" = "$$want" ] && \
		[ -x '$(TRILLIAN_BIN)/trillian_log_server' ] && [ -x '$(TRILLIAN_BIN)/trillian_log_signer' ]; then \
		echo "trillian: $$want is built in $(TRILLIAN_BIN)"; exit 0; fi; \
	echo "trillian: building $$want into $(TRILLIAN_BIN)"; \
	tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	cp go.mod go.sum "$$tmp/"; mkdir -p '$(TRILLIAN_BIN)'; \
	(cd "$$tmp" && GOWORK=off $(GO) build -mod=mod -o '$(TRILLIAN_BIN)/' \
		github.com/google/trillian/cmd/trillian_log_server github.com/google/trillian/cmd/trillian_log_signer); \
	echo "$$want" > '$(TRILLIAN_BIN)/VERSION'

run: build ## build, then run trialogd locally (deploy/run-local.sh finds or starts MariaDB)
	deploy/run-local.sh

demo: bin/trialog ## register a demo principal, notarize a sample document, verify its proof
	@if [ ! -f '$(DATA_DIR)/admin.token' ]; then \
		echo 'demo: $(DATA_DIR)/admin.token is missing: start the server first with `make run`.' >&2; \
		exit 1; \
	fi
	bin/trialog demo --url '$(TRIALOG_URL)' --admin-token-file '$(DATA_DIR)/admin.token'

test: trillian fhirclient bin/litewitness ## go vet, then every test (needs MariaDB; see deploy/mariadb-local.sh; the page tests need chromium), then the deployment files
	$(GO) vet $(PKGS)
	TRIALOG_TRILLIAN_BIN='$(TRILLIAN_BIN)' LITEWITNESS='$(CURDIR)/bin/litewitness' $(GO) test -count=1 $(GOTESTFLAGS) $(PKGS)
	$(MAKE) --no-print-directory deploy-check

deploy-check: ## validate the Dockerfile, compose files and Kubernetes manifests (no container runtime needed)
	cd deploy/validate && $(GO) vet ./... && $(GO) test -count=1 ./...

image: ## build the trialogd and Trillian images (needs a Docker engine): IMAGE_TAG=dev
	docker build -t trialog/trialogd:$(IMAGE_TAG) --build-arg VERSION=$(IMAGE_TAG) --target trialogd .
	docker build -t trialog/trillian:$(IMAGE_TAG) --target trillian .

FHIRCLIENT := cmd/trialogd/testdata/fhirclient

# The FHIR facade test reads /fhir with a FHIR client library under node; npm ci installs it
# from the committed lock file. Without node the test skips (and fails in CI).
fhirclient: ## install the FHIR client library the tests use (npm ci; skipped without npm)
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix '$(FHIRCLIENT)' --no-audit --no-fund --loglevel=error; \
	else \
		echo 'fhirclient: npm is not installed; the fhir-kit-client test will be skipped'; \
	fi

fuzz: ## run every Fuzz target for FUZZTIME each
	@list=$$($(GO) test -run '^$$' -list '^Fuzz' $(PKGS)); \
	targets=$$(awk '/^Fuzz/ { f[n++] = $$1; next } \
		/^ok/ { for (i = 0; i < n; i++) print $$2, f[i]; n = 0 }' <<<"$$list"); \
	if [ -z "$$targets" ]; then echo 'fuzz: no Fuzz targets yet'; exit 0; fi; \
	while read -r pkg fn; do \
		echo "fuzz: $$pkg $$fn for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime '$(FUZZTIME)' $(FUZZFLAGS) "$$pkg"; \
	done <<<"$$targets"

bench: ## quick figures: P1 (with plain Trillian and the ratio), P2, the batch rate, P7 (mixed workload), P4; a few minutes
	$(GO) run ./cmd/trialog-bench $(BENCHFLAGS)
	@echo 'P4 offline receipt verification, one core, every check (target ≥ 20,000 receipts/s per core):'
	$(GO) test -run '^$$' -bench 'VerifyReceipts$$' -benchtime 2s -cpu 1 ./receipt | grep -E 'receipts/s|^ok'
	$(GO) test -run '^$$' -bench 'WorstBodies' -benchtime 200ms -cpu 1 ./internal/strictjson | grep -E 'ms/KiB|^ok'

bench-large: ## large-tree figures (P3, P5, P6) on one log grown to 2M entries; writes docs/perf/; about 12 minutes
	mkdir -p docs/perf
	$(GO) run ./cmd/trialog-bench -large -csv docs/perf/large.csv $(BENCHFLAGS) | tee docs/perf/large.txt
	$(GO) run ./scripts/plot-throughput docs/perf/large.csv docs/perf/throughput.svg

lint: ## fail on gofmt differences, then go vet
	@out=$$(find . -type d \( -name '.?*' -o -name testdata -o -name bin \) -prune \
		-o -type f -name '*.go' -print | xargs -r gofmt -l); \
	if [ -n "$$out" ]; then echo "gofmt needs to reformat:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

db-stop: ## stop the private MariaDB that deploy/mariadb-local.sh may have started
	deploy/mariadb-local.sh stop

clean: ## remove build and test outputs (keeps DATA_DIR: keys, admin token, private MariaDB)
	rm -rf bin web/testdata/screenshots
	rm -f web/assets/verifier.wasm web/assets/wasm_exec.js
	find . -type d -name '.?*' -prune -o -type f \
		\( -name '*.test' -o -name '*.prof' -o -name '*.pprof' -o -name 'coverage*.out' -o -name 'coverage*.html' -o -name '*.coverprofile' -o -name 'cover.out' \) \
		-print -exec rm -f {} +
