# Linegate's developer and CI contract. `make run` and `make test` do all the
# set-up on a fresh Debian machine that has Go.
SHELL := /bin/bash
GO    ?= go
SQLC  := $(GO) tool -modfile=tools/go.mod sqlc
LINT  := $(GO) tool -modfile=tools/go.mod golangci-lint
VULN  := $(GO) tool -modfile=tools/go.mod govulncheck
BIN   := bin/gateway

.PHONY: help run test stop generate check-generated build bench lint vuln fmt-check vet sdk-deps clean

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

test: fmt-check vet check-generated lint sdk-deps ## the whole suite: gofmt, vet, sqlc staleness, lint, go test -race against a private Postgres
	@url="$$(scripts/pg.sh start)" && \
	TEST_DATABASE_URL="$$url" $(GO) test -race -count=1 -timeout 20m ./...

bench: ## throughput and latency of the whole stack beside its baselines
	$(GO) run ./cmd/gateway bench

clean: ## stop the private Postgres and remove build output and its data (also a /var/tmp/linegate-pg-* copy)
	@scripts/pg.sh clean
	rm -rf bin
