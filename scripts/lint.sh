#!/usr/bin/env bash
# Runs golangci-lint with the repository's .golangci.yml. The version is
# pinned here and nowhere else (make lint and scripts/test.sh call this
# script); `go run pkg@version` builds it from the Go module proxy into the
# build cache without touching go.mod. On a fresh machine the first run
# downloads and builds it and analyses everything (about 4 CPU-minutes); later
# runs take seconds (the Go and golangci-lint caches hold the results). Only one
# run at a time per machine: a second one fails with "parallel golangci-lint is
# running" (add --allow-serial-runners to wait instead). Extra arguments go to
# `golangci-lint run`, e.g.
#   ./scripts/lint.sh ./internal/api/...
#   ./scripts/lint.sh --fix
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -eq 0 ]; then set -- ./...; fi
exec go run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0 run "$@"
