# mailshift — build, test, benchmark.
#
#   make test    installs what the tests need when missing (Dovecot, formail,
#                python3), then go vet and go test -race ./... (real-server
#                tests included)
#   make bench   runs the benchmarks and prints their figures
#   make build   builds ./mailshift

GO ?= go
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all build test deps vet bench release-check clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o mailshift ./cmd/mailshift

# deps installs what the tests need when it is missing: the real IMAP
# server the integration tests run against (dovecot-imapd), and the tools
# that write the mbox files the mbox source is tested on (formail from
# procmail, Python's mailbox module). apt-get update runs once, only if
# something is missing.
DEPS_MISSING = $(strip \
	$(if $(shell command -v dovecot >/dev/null 2>&1 && [ -x /usr/lib/dovecot/imap ] && echo ok),,dovecot-imapd) \
	$(if $(shell command -v formail 2>/dev/null),,procmail) \
	$(if $(shell command -v python3 2>/dev/null),,python3))

deps:
	@if [ -n "$(DEPS_MISSING)" ]; then \
		echo "installing $(DEPS_MISSING) for the tests"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(DEPS_MISSING) >/dev/null; \
	fi

vet:
	$(GO) vet ./...

test: deps vet
	$(GO) test -race -timeout 20m ./...

# bench runs the go test benchmarks, then cmd/mailshift-bench: mailshift against
# mbsync (Debian isync, installed here when missing), doveadm backup and a
# fetch-only client, on two Dovecots in /dev/shm, printing Markdown tables.
# BENCH_SCALE scales the message counts (default 1: minutes per profile);
# a quick run:  make bench BENCH_SCALE=0.05
# or only some profiles:  go run ./cmd/mailshift-bench -profiles small,large -scale 0.1
BENCH_SCALE ?= 1

bench: deps
	@if ! command -v mbsync >/dev/null 2>&1; then \
		echo "installing isync (mbsync) for the benchmark"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq isync >/dev/null; \
	fi
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 60m ./...
	$(GO) run ./cmd/mailshift-bench -scale $(BENCH_SCALE)

release-check:
	$(GO) run github.com/goreleaser/goreleaser/v2@v2.12.0 check

clean:
	rm -f mailshift
