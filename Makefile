# Gatehouse. `make help` lists the targets.

GO          ?= go
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
BIN         ?= bin/gatehouse

.DEFAULT_GOAL := help
.PHONY: help run build test lint bench bench-scim faults

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-11s %s\n", $$1, $$2}'

run: build ## build bin/gatehouse and run the server on the embedded SQLite default (gatehouse.db)
	./$(BIN) serve

build: ## build the static binary into bin/gatehouse
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) ./cmd/gatehouse

test: ## run the whole test suite with the race detector (PostgreSQL too when GATEHOUSE_TEST_POSTGRES is set)
	$(GO) test -race -count=1 -timeout 30m ./...

lint: ## gofmt, go vet and staticcheck
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

bench: ## run the benchmarks
	$(GO) test -run '^$$' -bench . -benchmem ./...

bench-scim: ## the SCIM load run of issue 15 beside the bare reference (scripts/bench-scim.sh; BENCH_ARGS, e.g. "postgres 100000 3")
	scripts/bench-scim.sh $(or $(BENCH_ARGS),sqlite)

faults: ## run the fault tests long (SIGKILL, PostgreSQL outage, SIGTERM, bad input); FAULTS_ARGS passes scripts/faults.sh options
	scripts/faults.sh $(FAULTS_ARGS)
