#!/bin/sh
# Reproducible `minirtc bench` runs against a fresh local `minirtc serve`, as
# used for the issue 8 acceptance and for BENCHMARKS.md. Run from the
# repository root on a quiet machine:
#
#   sh internal/bench/acceptance.sh [READERS] [HOLD] [HTTP_PORT] [RTMP_PORT]
#
# defaults: 500 readers, 60s hold, ports 8080 and 1935. For each reader
# protocol (RTMP, HTTP-FLV) it prints the human summary and keeps the JSON
# report in /tmp/bench-<proto>-<readers>.json.
set -eu
READERS=${1:-500}
HOLD=${2:-60s}
HP=${3:-8080}
RP=${4:-1935}
go build -o /tmp/minirtc ./cmd/minirtc
rm -rf /tmp/minirtc-bench-data
/tmp/minirtc app create --data-dir /tmp/minirtc-bench-data --name bench --json > /tmp/minirtc-bench-app.json
APP=$(sed -n 's/.*"appId": "\(.*\)".*/\1/p' /tmp/minirtc-bench-app.json)
CERT=$(sed -n 's/.*"appCertificate": "\(.*\)".*/\1/p' /tmp/minirtc-bench-app.json)
/tmp/minirtc serve --data-dir /tmp/minirtc-bench-data --http-addr 127.0.0.1:$HP --rtmp-addr 127.0.0.1:$RP \
	--log-level warn > /tmp/minirtc-bench-serve.log 2>&1 &
SRV=$!
trap 'kill $SRV' EXIT
sleep 2
for PROTO in rtmp flv; do
	/tmp/minirtc bench --server http://127.0.0.1:$HP --app-id "$APP" --app-cert "$CERT" \
		--readers "$READERS" --rate 50 --hold "$HOLD" --proto $PROTO --pid $SRV \
		--json > /tmp/bench-$PROTO-$READERS.json 2> /tmp/bench-$PROTO-$READERS.txt
	sed -n '/^minirtc bench:/,$p' /tmp/bench-$PROTO-$READERS.txt
done
