#!/usr/bin/env bash
# Capacity-planning sweep: how big must the handler cache and the Zygote
# tree be for this trace? Replays the trace once per size and prints one
# CSV row each (startup = latency minus the handler's own run time).
#
#   notebooks/sweep_tiers.sh [TRACE] > sweep.csv
#
# Needs a release build (cargo build --release -p sock-sim) and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
trace=${1:-traces/pypi.json}
sim=target/release/sim
[ -x "$sim" ] || { echo "build first: cargo build --release -p sock-sim" >&2; exit 2; }
echo "handler_mb,zygote_mb,handler_hit_share,zygote_hit_share,startup_p50_ms,startup_p99_ms,startup_mean_ms,handler_peak_mb,zygote_peak_mb"
for handler in 0 256 1024 4096 16384; do
    for zygote in 64 512 2048; do
        "$sim" --trace "$trace" --handler-mb "$handler" --zygote-mb "$zygote" --format json |
            python3 -c '
import json, sys
d = json.load(sys.stdin)
s, p, m = d["startup_ms"], d["paths"], d["memory_mb"]
print(",".join(str(x) for x in [sys.argv[1], sys.argv[2], round(p["handler_hit"]["share"], 4), round(p["zygote_hit"]["share"], 4),
      s["p50"], s["p99"], s["mean"], m["handler"]["peak"], m["zygote"]["peak"]]))
' "$handler" "$zygote"
    done
done
