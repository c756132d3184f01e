#!/bin/sh
# Reproducible `minirtc bench` runs against a fresh local `minirtc serve`, as
# used for the issue 8 acceptance and for BENCHMARKS.md. Run from the
# repository root on a quiet machine:
#
#   sh internal/bench/acceptance.sh [READERS] [HOLD] [HTTP_PORT] [RTMP_PORT] [BITRATE]
#
# defaults: 500 readers, 60s hold, ports 8080 and 1935, 500k. It runs, and
# keeps the JSON report of each in /tmp/bench-<name>.json:
#   - RTMP readers and HTTP-FLV readers (one publisher, READERS readers);
#   - a mixed run: READERS/5 RTMP readers plus READERS/10 WHEP readers;
#   - a join-rate run stepping 100..3200 joins/s (3 s steps, 10 channels)
#     until join p99 exceeds 100 ms.
# CPU figures are process CPU time from /proc; each summary gives the load
# average, since other work on the machine stretches wall-clock figures.
set -eu
READERS=${1:-500}
HOLD=${2:-60s}
HP=${3:-8080}
RP=${4:-1935}
BITRATE=${5:-500k}
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
run() { # name, bench flags...
	NAME=$1
	shift
	/tmp/minirtc bench --server http://127.0.0.1:$HP --app-id "$APP" --app-cert "$CERT" --pid $SRV \
		--channel "$NAME" --json "$@" > /tmp/bench-$NAME.json 2> /tmp/bench-$NAME.txt
	sed -n '/^minirtc bench:/,$p' /tmp/bench-$NAME.txt
}
for PROTO in rtmp flv; do
	run $PROTO-$READERS-$BITRATE --readers "$READERS" --rate 50 --hold "$HOLD" --proto $PROTO --bitrate "$BITRATE"
done
run mixed-$BITRATE --readers $((READERS / 5)) --whep $((READERS / 10)) --rate 25 --hold 20s --bitrate "$BITRATE"
run joins --join-rates 100,200,400,800,1200,1600,2400,3200 --join-step 3s --channels 10
