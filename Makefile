# Shoal. `make demo` and `make test` do all the set-up on a fresh Linux host as root.
export PATH := $(PATH):/usr/local/go/bin
GO      ?= go
BIN     := bin/peer
VERSION ?= 0.1.0-dev
# seccomp profiles for containers need cgo and libseccomp-dev (scripts/setup-host.sh installs it).
TAGS    := -tags seccomp

.PHONY: all build test test-short chaos bench demo demo-stop fuzz setup clean

all: build

setup:
	./scripts/setup-host.sh

# The peer binary, with the container init (cmd/shoal-init) attached.
build:
	./scripts/build-peer.sh $(BIN) seccomp -ldflags "-X main.version=$(VERSION)"

# Everything under -race: gossip and node are concurrent, and the rest is cheap.
test: setup
	$(GO) vet $(TAGS) ./...
	$(GO) test $(TAGS) -race -count=1 -timeout 30m ./...

# The long chaos scenarios of integration/ (about 15 minutes) and their results table.
chaos: setup
	mkdir -p bin && SHOAL_CHAOS=1 SHOAL_REQUIRE_PEER=1 SHOAL_CHAOS_TABLE=$(CURDIR)/bin/chaos-table.md \
		$(GO) test $(TAGS) -count=1 -timeout 90m -v -run 'TestScenario' ./integration/
	@cat bin/chaos-table.md

bench: setup build
	$(GO) test $(TAGS) -run '^$$' -bench . -benchmem ./...

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 2m ./jobspec

demo: setup build
	./scripts/demo.sh

demo-stop:
	./scripts/demo.sh stop

clean:
	rm -rf bin
