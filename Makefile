# mailshift — build, test, benchmark.
#
#   make test    installs what the tests need when missing (Dovecot), then
#                go vet and go test -race ./... (real-server tests included)
#   make bench   runs the benchmarks and prints their figures
#   make build   builds ./mailshift

GO ?= go
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all build test deps vet bench release-check clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o mailshift ./cmd/mailshift

# deps installs the real IMAP server the integration tests run against.
deps:
	@if ! command -v dovecot >/dev/null 2>&1 || ! [ -x /usr/lib/dovecot/imap ]; then \
		echo "installing dovecot-imapd for the integration tests"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq dovecot-imapd >/dev/null; \
	fi

vet:
	$(GO) vet ./...

test: deps vet
	$(GO) test -race -timeout 20m ./...

bench: deps
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 60m ./...

release-check:
	$(GO) run github.com/goreleaser/goreleaser/v2@v2.12.0 check

clean:
	rm -f mailshift
