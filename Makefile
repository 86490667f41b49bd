# Linegate's developer and CI contract. `make run` and `make test` do all the
# set-up on a fresh Debian machine that has Go.
SHELL := /bin/bash
GO    ?= go
SQLC  := $(GO) tool -modfile=tools/go.mod sqlc
LINT  := $(GO) tool -modfile=tools/go.mod golangci-lint
VULN  := $(GO) tool -modfile=tools/go.mod govulncheck
BIN   := bin/gateway

.PHONY: help run test stop generate check-generated build bench bench-scale lint vuln fmt-check vet sdk-deps clean fuzz soak

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

build: ## build bin/gateway
	$(GO) build -o $(BIN) ./cmd/gateway

run: build ## Postgres + Linq simulator + gateway on defaults (Ctrl-C stops gateway and simulator)
	@GATEWAY_BIN="$(BIN)" scripts/run.sh

stop: ## stop the private Postgres cluster
	@scripts/pg.sh stop

generate: ## regenerate sqlc code
	$(SQLC) -f sqlc.yaml generate

check-generated: ## fail when the committed sqlc output is stale
	@$(SQLC) -f sqlc.yaml diff || { echo "sqlc output is stale: run 'make generate' and commit"; exit 1; }

fmt-check:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*'))"; \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

sdk-deps: ## install the pinned Linq TypeScript SDK for the conformance test
	@scripts/sdk-deps.sh

lint: ## golangci-lint with .golangci.yml (pinned in tools/go.mod)
	$(LINT) run ./...

vuln: ## govulncheck against the Go vulnerability database (needs vuln.go.dev, or VULN_DB=file:///a/local/copy)
	$(VULN) $(if $(VULN_DB),-db $(VULN_DB)) ./...

test: fmt-check vet check-generated lint sdk-deps ## the whole suite: gofmt, vet, sqlc staleness, lint, go test -race against a private Postgres, a 20 s chaos soak (installs Chromium for the dashboard's browser test)
	@scripts/chromium.sh >/dev/null
	@url="$$(scripts/pg.sh start)" && \
	TEST_DATABASE_URL="$$url" $(GO) test -race -count=1 -timeout 20m ./...
	$(GO) run ./test/soak -d 20s

# Packages with native fuzz targets; `make test` runs their seed corpora
# (testdata/fuzz/FuzzX plus the f.Add seeds) like any other test.
FUZZ_PKGS := ./internal/linq ./internal/webhooks ./internal/handle ./internal/httpapi ./internal/messaging ./internal/deeplink ./internal/inbound
FUZZTIME  ?= 30s

fuzz: ## run every fuzz target for FUZZTIME each (default 30s, about 6 min in all; FUZZTIME=2m for a release)
	@url="$$(scripts/pg.sh start)" && export TEST_DATABASE_URL="$$url" && \
	for pkg in $(FUZZ_PKGS); do \
		for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$target ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

bench: ## throughput and latency of the whole stack beside its baselines
	$(GO) run ./cmd/gateway bench

bench-scale: ## the bench against 10,000 lines and 1,000,000 users seeded in bulk (several minutes)
	$(GO) run ./cmd/gateway bench -scale

SOAK_D ?= 60s

soak: ## chaos run: two replicas, kill -9, a Postgres restart, Linq faults; reconciles and prints a table (SOAK_D=5m for longer)
	$(GO) run ./test/soak -d $(SOAK_D)

clean: ## stop the private Postgres and remove build output and its data (also a /var/tmp/linegate-pg-* copy)
	@scripts/pg.sh clean
	rm -rf bin
