# Anvil — `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
TOOLS := $(CURDIR)/.tools
export PATH := $(TOOLS)/bin:$(TOOLS)/node_modules/.bin:$(PATH)

# Every Go module joined by go.work (`go build ./...` does not work at a go.work root).
MODULES := proto pkg services/gateway services/storagenode services/metadata services/worker cmd/anvil test
PKGS := $(addsuffix /...,$(addprefix ./,$(MODULES)))
CMDS := ./cmd/anvil ./services/gateway/cmd/anvil-gateway ./services/storagenode/cmd/anvil-storagenode \
        ./services/metadata/cmd/anvil-metadata ./services/worker/cmd/anvil-worker

.PHONY: help build run test test-unit test-e2e verify vet fmt fmt-check lint-proto generate check-generated tidy bench tools clean

help: ## list targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

build: ## build every binary into bin/
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ $(CMDS)

run: build ## start a local dev cluster (Ctrl-C stops it); data in .anvil/dev
	$(BIN)/anvil dev --data-dir .anvil/dev

test: build ## run every test: unit, integration and end-to-end against real processes
	ANVIL_BIN_DIR=$(BIN) $(GO) test -count=1 -timeout 10m $(filter-out ./test/...,$(PKGS))
	@# The cluster suites one at a time: run side by side on two cores they
	@# starve each other's time budgets.
	ANVIL_BIN_DIR=$(BIN) $(GO) test -p 1 -count=1 -timeout 25m ./test/...

test-unit: ## unit and package-level integration tests only (no cluster)
	$(GO) test -count=1 $(filter-out ./test/...,$(PKGS))

test-e2e: build ## end-to-end tests against a real cluster of processes
	ANVIL_BIN_DIR=$(BIN) $(GO) test -count=1 -timeout 25m -v ./test/... 

verify: vet fmt-check lint-proto check-generated ## every non-mutating check: vet, gofmt, buf lint, generated code up to date

vet: ## go vet every module
	$(GO) vet $(PKGS)

fmt: ## gofmt the tree
	gofmt -w $$(git ls-files '*.go')

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

lint-proto: tools ## buf lint
	buf lint

generate: tools ## regenerate protobuf Go code
	buf generate

check-generated: generate ## fail when the committed generated code is stale
	@git diff --exit-code -- proto/ >/dev/null || { echo "generated protobuf code is stale: run make generate"; git diff --stat -- proto/; exit 1; }
	@test -z "$$(git ls-files --others --exclude-standard -- proto/)" || { echo "untracked generated files in proto/"; exit 1; }

tidy: ## go mod tidy every module
	@for m in $(MODULES); do (cd $$m && GOWORK=off $(GO) mod tidy) || exit 1; done

bench: build ## PUT/GET throughput against the running dev cluster (start it with make run)
	$(GO) run ./test/cmd/anvil-bench --env .anvil/dev/env

tools: ## install buf and the protoc plugins into .tools/
	@scripts/install-tools.sh $(TOOLS)

clean: ## remove build outputs (not .anvil/)
	rm -rf $(BIN)
