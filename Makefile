# Cellar's front door. `make run` and `make test` set up everything they
# need first (apt packages, a Vault binary), so they work on a fresh Debian.
.DEFAULT_GOAL := help
GO ?= go
BIN := bin/cellar

.PHONY: help deps deps-test build run test test-short bench generate check-generated lint clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

deps: ## install missing apt packages and build Vault (idempotent)
	@./scripts/deps.sh

deps-test: ## deps, plus Chromium for the dashboard's browser tests
	@./scripts/deps.sh test

build: ## build bin/cellar
	$(GO) build -o $(BIN) ./cmd/server

run: deps build ## start private PostgreSQL, MariaDB and Vault under .data/ and serve the API on 127.0.0.1:8080
	./$(BIN) serve

test: deps-test ## run every test against real servers the tests start themselves
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 30m ./...

test-short: ## unit tests only (no servers)
	$(GO) test -short -count=1 ./...

bench: deps build ## API latency against raw DDL + Vault on the same servers, in one run
	$(GO) run ./cmd/bench

generate: ## regenerate sqlc code (internal/store) and the OpenAPI document (internal/api/openapi.json)
	./scripts/sqlc.sh generate
	$(GO) run ./cmd/openapigen

check-generated: generate ## fail if generated code differs from what is committed
	@git diff --exit-code -- internal/store internal/api/openapi.json || (echo "generated files are stale: run make generate and commit" >&2; exit 1)
	@test -z "$$(git status --porcelain -- internal/store internal/api/openapi.json)" || (echo "untracked generated files" >&2; exit 1)

lint: ## golangci-lint (staticcheck, errcheck, revive, govet, …; .golangci.yml) and gofmt
	@./scripts/lint.sh

clean: ## remove build output (keeps .data)
	rm -rf bin

.PHONY: fuzz
fuzz: ## run each fuzz target for FUZZTIME (default 45s); make test runs their seeds
	./scripts/fuzz.sh
