#!/usr/bin/env bash
# Runs golangci-lint with the repository's .golangci.yml. The version is
# pinned here and nowhere else (make lint and scripts/test.sh call this
# script); `go run pkg@version` builds it from the Go module proxy into the
# build cache without touching go.mod. The first run downloads and builds it
# (about a minute and a half on 2 cores), later runs take seconds when the
# code has not changed. Extra arguments go to `golangci-lint run`, e.g.
#   ./scripts/lint.sh ./internal/api/...
#   ./scripts/lint.sh --fix
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -eq 0 ]; then set -- ./...; fi
exec go run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0 run "$@"
