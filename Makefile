# mailshift — build, test, benchmark.
#
#   make test    installs what the tests need when missing (Dovecot, formail,
#                python3; Courier and Cyrus unpacked beside it), then go vet
#                and go test -race ./... (real-server tests included)
#   make bench   runs the benchmarks and prints their figures
#   make build   builds ./mailshift
#   make release-check   checks .goreleaser.yaml and builds a snapshot
#                release into dist/ (installs GoReleaser when missing)

GO ?= go
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all build test deps vet bench release-check examples-check clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o mailshift ./cmd/mailshift

# deps installs what the tests need when it is missing: the real IMAP
# server the integration tests run against (dovecot-imapd), and the tools
# that write the mbox files the mbox source is tested on (formail from
# procmail, Python's mailbox module), Radicale (the CardDAV and CalDAV
# server PST contacts and calendars are uploaded to in the tests) and
# readpst (pst-utils, whose export they are compared with). Then it
# unpacks Courier IMAP and Cyrus IMAP for the interoperability tests into
# $(TESTSERVERS) (both conflict with dovecot-imapd in apt, so they are
# never installed: their .debs and the libraries they need that are not installed are fetched with
# `apt-get download` and unpacked with `dpkg-deb -x`; the tests run them
# from there). apt-get update runs at most once, only if something is
# missing; with everything in place deps takes a fraction of a second.
DEPS_MISSING = $(strip \
	$(if $(shell command -v dovecot >/dev/null 2>&1 && [ -x /usr/lib/dovecot/imap ] && echo ok),,dovecot-imapd) \
	$(if $(shell command -v formail 2>/dev/null),,procmail) \
	$(if $(shell command -v python3 2>/dev/null),,python3) \
	$(if $(shell command -v chromium 2>/dev/null),,chromium) \
	$(if $(shell command -v radicale 2>/dev/null),,radicale) \
	$(if $(shell command -v readpst 2>/dev/null),,pst-utils))

# Where Courier and Cyrus are unpacked; the tests read the same variable.
TESTSERVERS ?= $(or $(MAILSHIFT_TESTSERVERS),/var/cache/mailshift-testservers)
# The packages of each server, unpacked with the libraries apt would
# install with them.
COURIER_PKGS = courier-imap courier-base courier-authlib courier-authdaemon courier-authlib-userdb gamin
CYRUS_PKGS = cyrus-imapd cyrus-common sasl2-bin libsasl2-modules libsasl2-modules-db

deps:
	@set -e; updated=; \
	update() { if [ -z "$$updated" ]; then $(SUDO) apt-get update -qq; updated=1; fi; }; \
	if [ -n "$(DEPS_MISSING)" ]; then \
		echo "installing $(DEPS_MISSING) for the tests"; \
		update; \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(DEPS_MISSING) >/dev/null; \
	fi; \
	unpack() { \
		name=$$1; shift; dest="$(TESTSERVERS)/$$name"; \
		[ "$$(cat "$$dest/.requested" 2>/dev/null)" = "$$*" ] && return 0; \
		echo "unpacking $$name into $$dest for the interoperability tests"; \
		apt-cache show $$1 >/dev/null 2>&1 || update; \
		want=$$(apt-get -s install --no-install-recommends "$$@" 2>/dev/null | \
			sed -n 's/^Inst \([^ ]*\) (.*/\1/p' | grep -E '^(lib|courier-|cyrus-|gamin$$|sasl2-bin$$)' || true); \
		[ -n "$$want" ] || { update; want=$$(apt-get -s install --no-install-recommends "$$@" 2>/dev/null | \
			sed -n 's/^Inst \([^ ]*\) (.*/\1/p' | grep -E '^(lib|courier-|cyrus-|gamin$$|sasl2-bin$$)' || true); }; \
		want=$$(echo $$want); \
		for p in "$$@"; do case " $$want " in *" $$p "*) ;; *) want="$$want $$p";; esac; done; \
		tmp=$$($(SUDO) mktemp -d); \
		(cd "$$tmp" && $(SUDO) chmod 777 . && $(SUDO) apt-get download -qq $$want) || { update; (cd "$$tmp" && $(SUDO) apt-get download -qq $$want); }; \
		$(SUDO) rm -rf "$$dest.new"; $(SUDO) mkdir -p "$$dest.new/root"; \
		for f in "$$tmp"/*.deb; do $(SUDO) dpkg-deb -x "$$f" "$$dest.new/root"; done; \
		echo $$want | $(SUDO) tee "$$dest.new/.unpacked" >/dev/null; \
		echo "$$*" | $(SUDO) tee "$$dest.new/.requested" >/dev/null; \
		$(SUDO) rm -rf "$$tmp" "$$dest"; $(SUDO) mv "$$dest.new" "$$dest"; \
	}; \
	unpack courier $(COURIER_PKGS); \
	unpack cyrus $(CYRUS_PKGS)

vet:
	$(GO) vet ./...

test: deps vet examples-check
	$(GO) test -race -timeout 20m ./...

# bench runs the go test benchmarks, then cmd/mailshift-bench: mailshift against
# mbsync (Debian isync, installed here when missing), doveadm backup and a
# fetch-only client, on two Dovecots in /dev/shm, printing Markdown tables.
# BENCH_SCALE scales the message counts (default 1: minutes per profile);
# a quick run:  make bench BENCH_SCALE=0.05
# or only some profiles:  go run ./cmd/mailshift-bench -profiles small,large -scale 0.1
BENCH_SCALE ?= 1
# BENCH_USERS is the size of the users profile (every mailshift step of a
# project of that many users × 10 small messages; about 15 minutes at
# 10,000 on two cores); a quicker one:  make bench BENCH_USERS=1000
BENCH_USERS ?= 10000
# BENCH_DOVECOT_LOGIN is how the users profile's Dovecots start their
# processes: performance, as Dovecot advises for a busy site (a server of
# 10,000 users would run so), or security, Dovecot's default, where every
# login costs the server about 6.5 ms here. The profile prints the
# server's own floor for the logins beside mailshift's figures.
BENCH_DOVECOT_LOGIN ?= performance

bench: deps
	@if ! command -v mbsync >/dev/null 2>&1; then \
		echo "installing isync (mbsync) for the benchmark"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq isync >/dev/null; \
	fi
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 60m ./...
	$(GO) run ./cmd/mailshift-bench -scale $(BENCH_SCALE)
	$(GO) run ./cmd/mailshift-bench -profiles users -users $(BENCH_USERS) -tools mailshift -dovecot-login $(BENCH_DOVECOT_LOGIN)

# release-check checks .goreleaser.yaml, builds every release archive into
# dist/ as a snapshot (nothing is published) and runs TestReleaseArchives on
# them: binary, README, LICENSE, completions, man pages and SBOM in each. It
# installs GoReleaser $(GORELEASER_VERSION) into $(GOBIN_DIR) when that one is
# not there (newer ones need a newer Go); `make test` never does.
GORELEASER_VERSION = 2.12.0
GOBIN_DIR := $(or $(shell $(GO) env GOBIN),$(shell $(GO) env GOPATH)/bin)
GORELEASER := $(GOBIN_DIR)/goreleaser

release-check:
	@$(GORELEASER) --version 2>/dev/null | grep -q 'v$(GORELEASER_VERSION)$$' || { \
		echo "installing goreleaser v$(GORELEASER_VERSION) into $(GOBIN_DIR)"; \
		$(GO) install github.com/goreleaser/goreleaser/v2@v$(GORELEASER_VERSION); }
	$(GORELEASER) check
	$(GORELEASER) release --snapshot --clean --skip=publish
	MAILSHIFT_RELEASE_DIST=$(CURDIR)/dist $(GO) test -count=1 -run '^TestReleaseArchives$$' ./cmd/mailshift

# examples-check validates the examples mailshift's own tests cannot load:
# the Kubernetes manifests with kubeconform, strictly, against JSON Schemas
# generated from the k8s.io/api Go types (tools/examplecheck/k8sschema:
# kubeconform downloads its schemas from GitHub otherwise, and needs no
# network this way); the GitHub Actions workflows with actionlint; the
# Nomad job with the HCL library (tools/examplecheck's test, which also
# runs `nomad job validate` where nomad is installed). tools/examplecheck
# is a module of its own: its libraries are no dependencies of mailshift.
# kubeconform and actionlint are installed into $(GOBIN_DIR) from the Go
# module proxy when missing or of another version.
KUBECONFORM_VERSION = 0.8.0
ACTIONLINT_VERSION = 1.7.12
KUBECONFORM = $(GOBIN_DIR)/kubeconform
ACTIONLINT = $(GOBIN_DIR)/actionlint
K8S_SCHEMAS = $(CURDIR)/build/k8s-schemas

examples-check:
	@$(GO) version -m $(KUBECONFORM) 2>/dev/null | grep -qE 'mod[[:space:]]+github.com/yannh/kubeconform[[:space:]]+v$(KUBECONFORM_VERSION)[[:space:]]' || { \
		echo "installing kubeconform v$(KUBECONFORM_VERSION) into $(GOBIN_DIR)"; \
		$(GO) install github.com/yannh/kubeconform/cmd/kubeconform@v$(KUBECONFORM_VERSION); }
	@$(GO) version -m $(ACTIONLINT) 2>/dev/null | grep -qE 'mod[[:space:]]+github.com/rhysd/actionlint[[:space:]]+v$(ACTIONLINT_VERSION)[[:space:]]' || { \
		echo "installing actionlint v$(ACTIONLINT_VERSION) into $(GOBIN_DIR)"; \
		$(GO) install github.com/rhysd/actionlint/cmd/actionlint@v$(ACTIONLINT_VERSION); }
	cd tools/examplecheck && $(GO) run ./k8sschema -out $(K8S_SCHEMAS)
	$(KUBECONFORM) -strict -summary -schema-location '$(K8S_SCHEMAS)/{{ .ResourceKind }}{{ .KindSuffix }}.json' examples/shards-kubernetes/*.yaml
	$(ACTIONLINT) examples/shards-github-actions/workflow.yml examples/ci-test-migration/github-actions.yml
	cd tools/examplecheck && $(GO) test -count=1 ./...

clean:
	rm -rf mailshift dist build
