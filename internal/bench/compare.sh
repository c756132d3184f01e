#!/bin/sh
# One `minirtc bench` run against a fresh local `minirtc serve` of BINARY,
# summarised on one line (server CPU per 100 readers during the hold, end-to-
# end latency of video (p50, p99) and of audio (a_p50, a_p99; RTMP and FLV
# readers only), drops, first frame). Run it alternately for two builds to
# compare them in the same session, as BENCHMARKS.md's issue 17 table was:
#
#   sh internal/bench/compare.sh BINARY NAME PROTO READERS [VAR=VALUE ...]
#
# e.g. compare.sh ./old/minirtc rtmp-old rtmp 200; compare.sh ./minirtc
# rtmp-new rtmp 200 MINIRTC_MEDIA_BATCH_INTERVAL=10ms. The JSON report is
# kept in $OUT/NAME.json (OUT defaults to /tmp/minirtc-compare).
set -eu
BIN=$1; NAME=$2; PROTO=$3; READERS=$4; shift 4
OUT=${OUT:-/tmp/minirtc-compare}
HP=${HP:-18931}; RP=${RP:-11991}
D=$OUT/data-$NAME
rm -rf "$D"; mkdir -p "$D"
"$BIN" app create --data-dir "$D" --name bench --json > "$D.app.json"
APP=$(sed -n 's/.*"appId": "\(.*\)".*/\1/p' "$D.app.json")
CERT=$(sed -n 's/.*"appCertificate": "\(.*\)".*/\1/p' "$D.app.json")
env "$@" "$BIN" serve --data-dir "$D" --http-addr 127.0.0.1:$HP --rtmp-addr 127.0.0.1:$RP --log-level warn > "$OUT/serve-$NAME.log" 2>&1 &
SRV=$!
trap 'kill $SRV 2>/dev/null' EXIT
sleep 2
"$BIN" bench --server http://127.0.0.1:$HP --app-id "$APP" --app-cert "$CERT" --pid $SRV --channel b \
	--readers "$READERS" --rate 50 --hold 20s --proto "$PROTO" --bitrate 500k --size 640x368 --fps 25 \
	--quiet --json > "$OUT/$NAME.json" 2> "$OUT/$NAME.txt" || true
python3 - "$OUT/$NAME.json" "$NAME" "$READERS" <<'PY'
import json, sys
path, name, readers = sys.argv[1], sys.argv[2], int(sys.argv[3])
d = json.load(open(path))
s, dr = d["server"], d["drops"]
a = d.get("audio_latency") or {}  # none from builds before it, or WHEP readers
print("%-22s cpu/100=%.2f%% p50=%.1fms p99=%.1fms a_p50=%.1fms a_p99=%.1fms drops=%.3f%% udp_drops=%s ff_p99=%.0fms playing=%d load=%s" % (
    name, s["cpu_hold_avg_pct"] * 100 / readers, d["e2e_latency"]["p50_ms"], d["e2e_latency"]["p99_ms"],
    a.get("p50_ms", 0), a.get("p99_ms", 0),
    dr["ratio"] * 100, dr.get("bench_udp_drops", "-"), d["first_frame"]["p99_ms"], d["readers_playing"], d["load_avg_1m"]))
PY
