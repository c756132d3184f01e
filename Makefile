.PHONY: test lint run build fuzz soak

# Run the server with embedded defaults.
run:
	go run ./cmd/minirtc serve

# Install what the tests need (when missing) and run every test.
test:
	./scripts/test.sh

# golangci-lint (pinned in scripts/lint.sh, settings in .golangci.yml); CI runs
# it too. Extra arguments: make lint LINT_ARGS='./internal/api/...'.
lint:
	./scripts/lint.sh $(LINT_ARGS)

build:
	CGO_ENABLED=0 go build -o bin/minirtc ./cmd/minirtc

# Run every fuzz target of the repository for FUZZTIME each (e.g.
# make fuzz FUZZTIME=10s; FUZZ_MATCH=rtmp picks targets by package or name).
FUZZTIME ?= 60s
fuzz:
	FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

# One hour (SOAK_DURATION) of churn against a real node on loopback, with the
# node's goroutines, RSS, open files, channels and streams printed every
# SOAK_INTERVAL; fails if they do not return to the baseline. Not part of CI.
SOAK_DURATION ?= 1h
SOAK_INTERVAL ?= 1m
soak:
	MINIRTC_SOAK=$(SOAK_DURATION) MINIRTC_SOAK_INTERVAL=$(SOAK_INTERVAL) go test -run '^TestSoak$$' -count=1 -timeout 0 -v ./internal/bench
