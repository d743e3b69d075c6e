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
# Kueue's manager, unchanged, from the module proxy: e2e/kueue/go.mod pins sigs.k8s.io/kueue
# (and, through Kueue's own go.mod, its whole graph); its `tool` directive keeps cmd/kueue in it.
# Stamp-keyed on go.mod/go.sum: a version bump rebuilds, nothing else does.
KUEUE := $(BIN)/kueue
KUEUE_MOD := e2e/kueue/go.mod e2e/kueue/go.sum
KUEUE_PKG := sigs.k8s.io/kueue/cmd/kueue
# The binaries report the Kubernetes release they were built from, like upstream's release builds.
K8S_VERSION = $(shell cd e2e/controlplane && $(GO) list -m -f '{{.Version}}' k8s.io/kubernetes)
K8S_LDFLAGS = $(foreach pkg,k8s.io/component-base/version k8s.io/client-go/pkg/version,\
	-X $(pkg).gitVersion=$(K8S_VERSION) \
	-X $(pkg).gitMajor=$(word 1,$(subst ., ,$(patsubst v%,%,$(K8S_VERSION)))) \
	-X $(pkg).gitMinor=$(word 2,$(subst ., ,$(K8S_VERSION))) \
	-X $(pkg).gitTreeState=clean)

export ROSTER_CONTROLPLANE_BIN := $(CONTROLPLANE)

# Real nodes (`make node`): the kubelet, kube-proxy and kube-scheduler are in the controlplane
# binary; containerd, ctr and the runc shim are built from the module proxy's containerd v2; the
# pause program is ours; runc, the CNI plugins and netfilter tools are pinned Debian packages.
NODE_BIN := $(BIN)/node
export ROSTER_NODE_BIN_DIR := $(NODE_BIN)
CONTAINERD_MODULE := github.com/containerd/containerd/v2
CONTAINERD_VERSION := v2.4.2
# The build is keyed on the version: a new version rebuilds, an unchanged one never does.
CONTAINERD_STAMP := $(NODE_BIN)/.containerd-$(CONTAINERD_VERSION)
CONTAINERD_TAGS := urfave_cli_no_docs no_btrfs no_devmapper no_zfs osusergo netgo
SHIM_TAGS := urfave_cli_no_docs no_grpc
PAUSE := $(NODE_BIN)/pause
PAUSE_SRC := $(wildcard e2e/pause/*.go) e2e/pause/go.mod
# iproute2 (ip) wires the nodes' network; util-linux (unshare, nsenter) is essential in Debian.
NODE_PACKAGES := runc=1.1.5+ds1-1+deb12u1 containernetworking-plugins=1.1.1+ds1-3+b5 \
	iptables=1.8.9-2 conntrack=1:1.4.7-1+b2 iproute2=6.1.0-3

# Container images (`make images`): built by docker or podman, whichever is on PATH.
IMAGES := roster-hub roster-agent roster-credential
IMAGE_REGISTRY ?= ghcr.io/roster-dev
IMAGE_TAG ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
# Only an engine that answers counts: a docker client without a daemon does not.
CONTAINER_ENGINE ?= $(shell for e in docker podman; do \
	command -v $$e >/dev/null && $$e info >/dev/null 2>&1 && { command -v $$e; break; }; done)

.PHONY: build test unit e2e crds crds-check lint fmt dev dev-local bench controlplane interop clean help images \
	node node-deps containerd pause node-images kueue

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

kueue: $(KUEUE) ## Build Kueue's manager (e2e/kueue/go.mod's version) from the Go module proxy.

$(KUEUE): $(KUEUE_MOD)
	@mkdir -p $(BIN)
	cd e2e/kueue && $(GO) build -trimpath -ldflags "-s -w" -o $(KUEUE) $(KUEUE_PKG)

node: controlplane containerd pause node-deps ## Everything a real node needs: binaries and Debian packages.

containerd: $(CONTAINERD_STAMP) ## Build containerd, ctr and the runc shim from the Go module proxy.

# Built in a writable copy of the module (the module cache is read-only), statically.
$(CONTAINERD_STAMP):
	@mkdir -p $(NODE_BIN)
	set -euo pipefail; \
	dir=$$(cd /tmp && $(GO) mod download -json $(CONTAINERD_MODULE)@$(CONTAINERD_VERSION) \
		| sed -n 's/^\t"Dir": "\(.*\)",$$/\1/p'); \
	test -d "$$dir"; \
	src=$(BIN)/src/containerd-$(CONTAINERD_VERSION); \
	rm -rf "$$src" && mkdir -p $(BIN)/src && cp -r "$$dir" "$$src" && chmod -R u+w "$$src"; \
	cd "$$src" && \
	CGO_ENABLED=0 $(GO) build -trimpath -tags "$(CONTAINERD_TAGS)" -ldflags "-s -w \
		-X $(CONTAINERD_MODULE)/version.Version=$(CONTAINERD_VERSION)" \
		-o $(NODE_BIN)/ ./cmd/containerd ./cmd/ctr && \
	CGO_ENABLED=0 $(GO) build -trimpath -tags "$(SHIM_TAGS)" -ldflags "-s -w \
		-X $(CONTAINERD_MODULE)/version.Version=$(CONTAINERD_VERSION)" \
		-o $(NODE_BIN)/ ./cmd/containerd-shim-runc-v2
	rm -rf $(BIN)/src $(NODE_BIN)/.containerd-*
	touch $@

pause: $(PAUSE) ## Build the pause program (sandbox image and node namespace holder).

$(PAUSE): $(PAUSE_SRC)
	@mkdir -p $(NODE_BIN)
	cd e2e/pause && CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o $(PAUSE) .

node-deps: ## Install the pinned Debian packages a node needs (runc, CNI plugins, iptables, conntrack, iproute2).
	@missing=""; for p in $(NODE_PACKAGES); do \
		name=$${p%%=*}; want=$${p#*=}; \
		have=$$(dpkg-query -W -f='$${Version}' "$$name" 2>/dev/null || true); \
		[ "$$have" = "$$want" ] || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

crds: ## Regenerate crds/, deploy/agent/ and deploy/hub/webhook.yaml from the Rust code.
	$(CARGO) run --locked -q -p xtask -- crds
	$(CARGO) run --locked -q -p xtask -- deploy

crds-check: ## Fail if crds/, deploy/agent/ or deploy/hub/webhook.yaml differs from the Rust code.
	$(CARGO) run --locked -q -p xtask -- crds --check
	$(CARGO) run --locked -q -p xtask -- deploy --check

# go vet with the build's -trimpath reuses the build's compiled packages (without it, vet
# compiles the whole Kubernetes graph a second time).
lint: ## Formatting, clippy (warnings are errors) and no module cycles.
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings
	$(CARGO) run --locked -q -p xtask -- modules
	cd e2e/controlplane && test -z "$$(gofmt -l .)" && $(GO) vet -trimpath ./...
	cd e2e/interop && test -z "$$(gofmt -l .)" && $(GO) vet -trimpath ./... && $(GO) vet -trimpath -modfile=go.v013.mod ./...
	cd e2e/pause && test -z "$$(gofmt -l .)" && $(GO) vet -trimpath ./...
	cd e2e/kueue && $(GO) mod tidy -diff

fmt: ## Format the code.
	$(CARGO) fmt --all
	cd e2e/controlplane && gofmt -w .
	cd e2e/interop && gofmt -w .
	cd e2e/pause && gofmt -w .

test: lint crds-check controlplane interop kueue node ## Everything a change must pass, end-to-end tests included.
	# The end-to-end tests run the binaries in target/debug, which `cargo test` does not rebuild.
	$(CARGO) build --locked --workspace --bins
	$(CARGO) test --locked --workspace --all-targets

# The images are assembled by `xtask dev` from the debug binaries this builds (tagged with the
# workspace version, the names deploy/hub and `kubectl roster join` use), while the nodes start.
dev: node ## A hub and two members with real nodes, Roster installed as users do (deploy/hub, kubectl roster join), in the foreground.
	$(CARGO) build --locked -q --workspace --bins
	$(CARGO) run --locked -q -p xtask -- dev $(DEV_ARGS)

dev-local: controlplane ## Fast iteration: a hub and two members without nodes, roster-hub and agents as local processes, in the foreground.
	$(CARGO) build --locked -q --workspace --bins
	$(CARGO) run --locked -q -p xtask -- dev-local

images: ## Build the container images with docker or podman; without one, assemble OCI archives (node-images).
	@if [ -z "$(CONTAINER_ENGINE)" ]; then \
		echo "make images: no working docker or podman; assembling OCI archives instead (make node-images)."; \
		echo "On a machine with an engine, the images are built with:"; \
		for t in $(IMAGES); do \
			echo "  docker build -f deploy/Dockerfile --target $$t -t $(IMAGE_REGISTRY)/$$t:$(IMAGE_TAG) ."; \
		done; \
		$(MAKE) --no-print-directory node-images; \
		exit $$?; \
	fi
	for t in $(IMAGES); do \
		DOCKER_BUILDKIT=1 $(CONTAINER_ENGINE) build -f deploy/Dockerfile --target $$t -t $(IMAGE_REGISTRY)/$$t:$(IMAGE_TAG) . || exit 1; \
	done

node-images: pause ## OCI archives of Roster's images (release binaries) and pause in .bin/images, for `ctr images import`.
	$(CARGO) build --locked --release -p roster-hub -p roster-agent -p roster-credential
	$(CARGO) run --locked -q -p xtask -- images --bin-dir target/release --pause $(PAUSE) --tag $(IMAGE_TAG) --out $(BIN)/images

bench: controlplane interop node ## Benchmarks on real control planes (and real nodes: the pods suite): a table, and .bench/results.json.
	$(CARGO) build --locked --release --bins
	$(CARGO) run --locked --release -q -p roster-bench -- $(BENCH_ARGS)

clean: ## Remove build outputs.
	$(CARGO) clean
	rm -rf $(BIN) .dev .bench
