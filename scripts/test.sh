#!/usr/bin/env bash
# Runs minirtc's whole test suite on a fresh Debian/Ubuntu machine: installs
# what the tests need when it is missing (apt packages, npm packages), then runs
# go vet, golangci-lint, the Go tests with the race detector, and the
# JavaScript SDK tests.
set -euo pipefail
cd "$(dirname "$0")/.."

# Tools the tests drive: ffmpeg/ffprobe (RTMP/FLV clients, AAC reference),
# espeak-ng and sox (speech samples), chromium (WebRTC browser tests),
# unshare/ip (loopback-only network namespace for the browser), whip-client
# (Meetecho's GStreamer WHIP client: native WHIP interop) with x264enc, gcc (it
# builds a stand-in library that client needs on Debian 12), redis-server (the
# Redis store and cluster tests start their own on a loopback port), curl (the
# cluster README's commands, run by deploy/).
need=()
for tool in gcc:gcc ffmpeg:ffmpeg ffprobe:ffmpeg espeak-ng:espeak-ng sox:sox chromium:chromium unshare:util-linux ip:iproute2 redis-server:redis-server curl:curl node:nodejs npm:npm whip-client:simple-whip-client; do
  bin=${tool%%:*} pkg=${tool##*:}
  if ! command -v "$bin" >/dev/null 2>&1; then need+=("$pkg"); fi
done
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo=sudo; fi
  echo "test.sh: installing ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "test.sh: not gofmt-formatted:"; echo "$unformatted"; exit 1
fi
go vet ./...
# golangci-lint, pinned in scripts/lint.sh, settings in .golangci.yml. On a
# fresh machine the first run downloads and builds it and analyses everything
# (about 4 CPU-minutes); with the Go and golangci-lint caches kept, seconds.
./scripts/lint.sh
# go.mod and go.sum say exactly what the code imports.
if ! go mod tidy -diff >/dev/null; then
  echo "test.sh: go mod tidy would change go.mod/go.sum (run go mod tidy):"; go mod tidy -diff; exit 1
fi
# Third-party WHIP/WHEP browser clients the interop tests load into Chromium.
if [ -f test/e2e/interop/package.json ]; then
  (cd test/e2e/interop && npm ci --no-audit --no-fund --loglevel=error)
fi
# The Redis tests fail instead of skipping when redis-server is missing.
export MINIRTC_REQUIRE_REDIS=1
go test -race -timeout 25m ./...

# JavaScript: the protocol core both SDKs are built from (no dependencies),
# then the SDKs (Node's test runner), when present. npm ci installs what a
# package-lock.json pins, esbuild included (its platform binary is an
# optional dependency fetched from the npm registry like any package); each
# SDK's tests check its committed bundle equals a fresh esbuild build.
for dir in sdk/core sdk/miniapp sdk/web; do
  if [ -f "$dir/package.json" ]; then
    echo "test.sh: $dir"
    if [ -f "$dir/package-lock.json" ]; then
      (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    fi
    (cd "$dir" && npm test)
  fi
done

# Every fuzz target, briefly (make fuzz runs them longer): CI_FUZZTIME each,
# about two minutes for the lot.
FUZZTIME=${CI_FUZZTIME:-3s} ./scripts/fuzz.sh
