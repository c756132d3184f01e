#!/bin/sh
# The cluster figures of BENCHMARKS.md: three `minirtc serve` nodes on
# loopback with one Redis, run from the repository root:
#
#   sh internal/bench/cluster.sh [READERS] [HOLD] [EDGE_THRESHOLD] [BITRATE] [JOIN_RATE]
#
# defaults: 600 readers (channels take 5000 members here), 20s hold, cluster.edgeThreshold 200, 300k, 100
# joins/s. It runs, keeping each JSON report in /tmp/cbench-<name>.json:
#   - fan-out: `minirtc bench` signalling mode against one node, HTTP-FLV
#     readers that play the URL their subscribe answer gives (the owner's
#     up to the threshold, then edges'); during the hold it prints each
#     node's CPU over 10 s and its minirtc_readers and
#     minirtc_sent_bytes_total from /metrics (the owner's relay bytes to
#     each edge are measured by TestClusterEdgeFanOut, not here);
#   - joins: join-only steps at JOIN_RATE/s, through a single node (no
#     Redis), then through the owner of a three-node cluster's channel and
#     through a node that does not own it (its gateway forwards).
set -eu
READERS=${1:-600}
HOLD=${2:-20s}
THRESH=${3:-200}
BITRATE=${4:-300k}
RATE=${5:-100}
RP=${REDIS_PORT:-16390}
go build -o /tmp/minirtc ./cmd/minirtc
PIDS=""
cleanup() { for p in $PIDS; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
redis-server --port "$RP" --bind 127.0.0.1 --save '' --appendonly no > /tmp/cbench-redis.log 2>&1 &
PIDS="$PIDS $!"
sleep 1
start_node() { # index, extra env...
	i=$1
	shift
	rm -rf /tmp/cbench-n$i
	mkdir -p /tmp/cbench-n$i
	env "$@" /tmp/minirtc serve --data-dir /tmp/cbench-n$i --http-addr 127.0.0.1:$((18080 + i)) \
		--rtmp-addr 127.0.0.1:$((11935 + i)) --webrtc-addr 127.0.0.1:$((18443 + i)) --log-level warn \
		> /tmp/cbench-n$i.log 2>&1 &
	PIDS="$PIDS $!"
	eval "PID$i=$!"
}
for i in 0 1 2; do
	start_node $i MINIRTC_CLUSTER_REDIS=redis://127.0.0.1:$RP MINIRTC_CLUSTER_NODE_ID=n$i \
		MINIRTC_CLUSTER_EDGE_THRESHOLD=$THRESH MINIRTC_GATEWAY_MAX_USERS_PER_CHANNEL=5000
	sleep 1
done
sleep 2
# The first node made the cluster's default app (in Redis) and printed it.
APP=$(sed -n 's/^ *appId: *\([0-9a-f]*\)$/\1/p' /tmp/cbench-n0.log | head -1)
CERT=$(sed -n 's/^ *appCertificate: *\([0-9a-f]*\)$/\1/p' /tmp/cbench-n0.log | head -1)
bench() { # name, node index, bench flags...
	NAME=$1
	N=$2
	shift 2
	/tmp/minirtc bench --server http://127.0.0.1:$((18080 + N)) --app-id "$APP" --app-cert "$CERT" \
		--json "$@" > /tmp/cbench-$NAME.json 2> /tmp/cbench-$NAME.txt || true
	sed -n '/^minirtc bench:/,$p' /tmp/cbench-$NAME.txt
}
owner() { # channel: the index of the node that owns it (its lease: "nI TOKEN")
	redis-cli -p "$RP" --scan --pattern "*lease:*:$1" | head -1 | xargs -r redis-cli -p "$RP" get |
		sed -n 's/^n\([0-9]\) .*/\1/p'
}
readers() { # node index: readers and bytes out from /metrics
	curl -s http://127.0.0.1:$((18080 + $1))/metrics | grep -E '^minirtc_(readers|sent_bytes_total|gateway_sessions)' || true
}

echo "== fan-out: $READERS HTTP-FLV readers of one stream, edgeThreshold $THRESH, $BITRATE"
bench fanout 0 --channel fan --readers "$READERS" --rate 50 --hold "$HOLD" --proto flv \
	--bitrate "$BITRATE" --size 320x240 --fps 25 --no-audio --pid "$PID0" &
BP=$!
# During the hold: each node's readers, bytes sent and CPU over 10 s
# (process CPU time from /proc, 100 % = one core).
sleep $((READERS / 50 + 3))
ticks() { awk '{print $14 + $15}' /proc/"$1"/stat; }
C0=$(ticks "$PID0") C1=$(ticks "$PID1") C2=$(ticks "$PID2")
sleep 10
D0=$(ticks "$PID0") D1=$(ticks "$PID1") D2=$(ticks "$PID2")
HZ=$(getconf CLK_TCK)
for i in 0 1 2; do
	eval "c=\$C$i d=\$D$i"
	echo "-- node n$i: cpu during the hold $(( (d - c) * 100 / HZ / 10 ))% of a core"
	readers $i
done
wait $BP

echo "== joins: $RATE joins/s (a first run through n0 places channel j)"
bench join-first 0 --channel j --joins-only --rate "$RATE" --join-step 5s
O=$(owner j)
echo "channel j is owned by n${O:-?}"
bench join-owner "${O:-0}" --channel j --joins-only --rate "$RATE" --join-step 5s
NO=$(( (${O:-0} + 1) % 3 ))
bench join-forwarded "$NO" --channel j --joins-only --rate "$RATE" --join-step 5s
echo "channel j is owned by n$(owner j) after the runs"
cleanup
PIDS=""
sleep 1
rm -rf /tmp/cbench-single
/tmp/minirtc app create --data-dir /tmp/cbench-single --name bench --json > /tmp/cbench-app.json
APP=$(sed -n 's/.*"appId": "\(.*\)".*/\1/p' /tmp/cbench-app.json)
CERT=$(sed -n 's/.*"appCertificate": "\(.*\)".*/\1/p' /tmp/cbench-app.json)
/tmp/minirtc serve --data-dir /tmp/cbench-single --http-addr 127.0.0.1:18090 --rtmp-addr 127.0.0.1:11945 \
	--webrtc-addr 127.0.0.1:18453 --log-level warn > /tmp/cbench-single.log 2>&1 &
PIDS="$!"
sleep 2
/tmp/minirtc bench --server http://127.0.0.1:18090 --app-id "$APP" --app-cert "$CERT" --json --channel fan \
	--joins-only --rate "$RATE" --join-step 5s > /tmp/cbench-join-single.json 2> /tmp/cbench-join-single.txt || true
sed -n '/^minirtc bench:/,$p' /tmp/cbench-join-single.txt
