# Roster — the two commands a developer needs are `make dev` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := build

CARGO ?= cargo
GO ?= go
export GOTOOLCHAIN := local
export GOFLAGS := -mod=readonly -buildvcs=false

BIN := $(CURDIR)/.bin
CONTROLPLANE := $(BIN)/controlplane
CONTROLPLANE_SRC := $(wildcard e2e/controlplane/*.go) e2e/controlplane/go.mod e2e/controlplane/go.sum
# The Go interoperability harness (upstream access library) and the upstream secretreader plugin.
# The harness is built twice from the same source: against cluster-inventory-api v0.1.0 (go.mod)
# and against v0.1.3, the newest release the module proxy serves (go.v013.mod).
INTEROP := $(BIN)/roster-interop
INTEROP_V013 := $(BIN)/roster-interop-v0.1.3
SECRETREADER := $(BIN)/secretreader
INTEROP_MOD := e2e/interop/go.mod e2e/interop/go.sum
INTEROP_V013_MOD := e2e/interop/go.v013.mod e2e/interop/go.v013.sum
INTEROP_SRC := $(wildcard e2e/interop/*.go) $(INTEROP_MOD)
INTEROP_V013_SRC := $(wildcard e2e/interop/*.go) $(INTEROP_V013_MOD)
SECRETREADER_PKG := sigs.k8s.io/cluster-inventory-api/plugins/secretreader/cmd/plugin
# The binaries report the Kubernetes release they were built from, like upstream's release builds.
K8S_VERSION = $(shell cd e2e/controlplane && $(GO) list -m -f '{{.Version}}' k8s.io/kubernetes)
K8S_LDFLAGS = $(foreach pkg,k8s.io/component-base/version k8s.io/client-go/pkg/version,\
	-X $(pkg).gitVersion=$(K8S_VERSION) \
	-X $(pkg).gitMajor=$(word 1,$(subst ., ,$(patsubst v%,%,$(K8S_VERSION)))) \
	-X $(pkg).gitMinor=$(word 2,$(subst ., ,$(K8S_VERSION))) \
	-X $(pkg).gitTreeState=clean)

export ROSTER_CONTROLPLANE_BIN := $(CONTROLPLANE)

# Container images (`make images`): built by docker or podman, whichever is on PATH.
IMAGES := roster-hub roster-agent roster-credential
IMAGE_REGISTRY ?= ghcr.io/roster-dev
IMAGE_TAG ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
CONTAINER_ENGINE ?= $(shell command -v docker || command -v podman)

.PHONY: build test unit e2e crds crds-check lint fmt dev bench controlplane interop clean help images

help: ## Show the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## Build every crate.
	$(CARGO) build --locked --workspace --all-targets

controlplane: $(CONTROLPLANE) ## Build the upstream control-plane binary from Go modules.

$(CONTROLPLANE): $(CONTROLPLANE_SRC)
	@mkdir -p $(BIN)
	cd e2e/controlplane && $(GO) build -trimpath -ldflags "-s -w $(K8S_LDFLAGS)" -o $(CONTROLPLANE) .

interop: $(INTEROP) $(INTEROP_V013) $(SECRETREADER) ## Build the Go interop harness (upstream v0.1.0 and v0.1.3) and the upstream secretreader plugin.

$(INTEROP): $(INTEROP_SRC)
	@mkdir -p $(BIN)
	cd e2e/interop && $(GO) build -trimpath -ldflags "-s -w" -o $(INTEROP) .

$(INTEROP_V013): $(INTEROP_V013_SRC)
	@mkdir -p $(BIN)
	cd e2e/interop && $(GO) build -modfile=go.v013.mod -trimpath -ldflags "-s -w" -o $(INTEROP_V013) .

# A main package of the upstream module, kept in the module graph by go.mod's `tool` directive.
$(SECRETREADER): $(INTEROP_MOD)
	@mkdir -p $(BIN)
	cd e2e/interop && $(GO) build -trimpath -ldflags "-s -w" -o $(SECRETREADER) $(SECRETREADER_PKG)

crds: ## Regenerate crds/, deploy/agent/ and deploy/hub/webhook.yaml from the Rust code.
	$(CARGO) run --locked -q -p xtask -- crds
	$(CARGO) run --locked -q -p xtask -- deploy

crds-check: ## Fail if crds/, deploy/agent/ or deploy/hub/webhook.yaml differs from the Rust code.
	$(CARGO) run --locked -q -p xtask -- crds --check
	$(CARGO) run --locked -q -p xtask -- deploy --check

lint: ## Formatting and clippy, warnings are errors.
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings
	cd e2e/controlplane && test -z "$$(gofmt -l .)" && $(GO) vet ./...
	cd e2e/interop && test -z "$$(gofmt -l .)" && $(GO) vet ./... && $(GO) vet -modfile=go.v013.mod ./...

fmt: ## Format the code.
	$(CARGO) fmt --all
	cd e2e/controlplane && gofmt -w .
	cd e2e/interop && gofmt -w .

test: lint crds-check controlplane interop ## Everything a change must pass, end-to-end tests included.
	# The end-to-end tests run the binaries in target/debug, which `cargo test` does not rebuild.
	$(CARGO) build --locked --workspace --bins
	$(CARGO) test --locked --workspace --all-targets

dev: controlplane ## A hub and two members on this machine, with roster-hub and agents, in the foreground.
	$(CARGO) build --locked -q --bins
	$(CARGO) run --locked -q -p xtask -- dev

images: ## Build the container images from deploy/Dockerfile (needs docker or podman).
	@if [ -z "$(CONTAINER_ENGINE)" ]; then \
		echo "make images: no docker or podman on PATH; on a machine with one, run:"; \
		for t in $(IMAGES); do \
			echo "  docker build -f deploy/Dockerfile --target $$t -t $(IMAGE_REGISTRY)/$$t:$(IMAGE_TAG) ."; \
		done; \
		exit 1; \
	fi
	for t in $(IMAGES); do \
		DOCKER_BUILDKIT=1 $(CONTAINER_ENGINE) build -f deploy/Dockerfile --target $$t -t $(IMAGE_REGISTRY)/$$t:$(IMAGE_TAG) . || exit 1; \
	done

bench: controlplane interop ## Benchmarks on real control planes: a table, and .bench/results.json.
	$(CARGO) build --locked --release --bins
	$(CARGO) run --locked --release -q -p roster-bench -- $(BENCH_ARGS)

clean: ## Remove build outputs.
	$(CARGO) clean
	rm -rf $(BIN) .dev .bench
