#!/usr/bin/env bash
# Held-out validation of the start-up model (issue 9): fit the host's cost
# terms on one real run, then predict runs of *another* trace (other seed,
# other functions and packages, more overlap) that the fit never saw.
#
#   sudo notebooks/validate_heldout.sh [OUT_DIR]      # default /tmp/heldout
#
# Needs root (real containers), the base rootfs (`sock-exec base`) and a
# release build (`cargo build --release --workspace --all-targets`).
# Takes ~40 min on 2 vCPUs. Writes every trace, calibration, record file
# and report into OUT_DIR; the comparisons are c2_*.txt.
#
# Train: trace t1 (20 functions, 30 stand-in packages, bursty, seed 11),
# one invocation at a time (`sock-exec run`), with the Zygote tier on and
# (300 calls) off, both fitted together by `sim calibrate` (median
# regression; the run without Zygotes gives the fresh starts that fit the
# interpreter start and the fresh noise). Held out: trace t2 (40 functions, 40 packages,
# twice the rate in shorter bursts, seed 23), run one at a time with the
# Zygote tier on, with it off (every cold start fresh), and concurrently.
# The prediction for t2 takes the host terms (container, fork, spare,
# unpause, transport, scales) from t1's fit and the per-package table
# (import and install time of t2's own packages) from `sock-exec calibrate
# --trace t2`: package costs are properties of the packages, measured once
# per package; the host terms are what the fit claims to know. The fit's
# noise block (`sim calibrate`'s measured / predicted percentiles) comes
# with the host terms, so the predictions are sampled; each c_*.txt lists
# the bounds missed, per record and per distribution (p50 and p95 shifts),
# and c_*_point.txt the per-record errors of one value per phase
# (`--no-noise`). The concurrent run is predicted with `--serial-setup`
# (sock-exec's one set-up loop, sim/src/setup_loop.rs).
#
# Real trace (skipped when ../shared/data is not beside the project, or with
# SOCK_HELDOUT_REAL=0): 24 functions of the 100-function Azure slice with
# real, measured closures of at most 6 PyPI packages, which `sock-exec`
# installs with pip (needs PyPI), run one at a time and predicted with t1's
# host terms and the real packages' own measured table.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
B=${SOCK_BIN:-$root/target/release}
out=${1:-/tmp/heldout}
mkdir -p "$out"
cd "$out"
for b in sim sock-exec; do
    [ -x "$B/$b" ] || { echo "build first: cargo build --release --workspace --all-targets ($B/$b missing)" >&2; exit 2; }
done
echo "host: $(lscpu | grep 'Model name' | sed 's/  */ /g'); $(date -u); load: $(cut -d' ' -f1-3 /proc/loadavg)"
"$B/sim" trace gen --packages 30 --functions 20 --invocations 600 --duration-s 180 --bursty --burst-on-s 15 --burst-off-s 45 --seed 11 --out t1.json
"$B/sim" trace gen --packages 40 --functions 40 --invocations 1200 --duration-s 180 --bursty --burst-on-s 10 --burst-off-s 50 --seed 23 --out t2.json
"$B/sock-exec" packages --trace t1.json --out wheels1
"$B/sock-exec" packages --trace t2.json --out wheels2
echo '{"tiers":{"handler":{"budget_mb":1024,"policy":{"kind":"ttl","ttl_s":60}}}}' > cfg.json
echo '{"tiers":{"handler":{"budget_mb":1024,"policy":{"kind":"ttl","ttl_s":60}},"zygote":{"mode":"off"}}}' > cfg_off.json
"$B/sock-exec" calibrate -n 10 --trace t1.json --find-links wheels1 --out cal1.json > cal1.txt
"$B/sock-exec" calibrate -n 10 --trace t2.json --find-links wheels2 --out cal2.json > cal2.txt

run() { # name trace config calibration wheels [flags...]
    local name=$1 trace=$2 cfg=$3 cal=$4 wheels=$5
    shift 5
    echo "run $name: $(date -u +%T), load $(cut -d' ' -f1 /proc/loadavg)"
    local links=()
    [ -n "$wheels" ] && links=(--find-links "$wheels")
    "$B/sock-exec" run --trace "$trace" --config "$cfg" --calibration "$cal" "${links[@]}" --progress 100 --records "m_$name.jsonl" "$@" > "r_$name.txt"
}
run t1_seq t1.json cfg.json cal1.json wheels1
run t1_off t1.json cfg_off.json cal1.json wheels1 --limit 300
run t2_seq t2.json cfg.json cal2.json wheels2 --limit 600
run t2_off t2.json cfg_off.json cal2.json wheels2 --limit 300
run t2_conc t2.json cfg.json cal2.json wheels2 --limit 600 --concurrent --speedup 1

"$B/sim" calibrate --trace t1.json --calibration cal1.json --from m_t1_seq.jsonl --config cfg.json --from m_t1_off.jsonl --config cfg_off.json --out fit1.json > fit1.txt
python3 -c '
import json, sys
host, pkgs = json.load(open("fit1.json")), json.load(open("cal2.json"))
host["packages"] = pkgs["packages"]
json.dump(host, open("fit1_for_t2.json", "w"), indent=1)
'
check() { # name trace config calibration measured [sim flags...]
    local name=$1 trace=$2 cfg=$3 cal=$4 measured=$5
    shift 5
    "$B/sim" --trace "$trace" --config "$cfg" --calibration "$cal" --records "p_$name.jsonl" "$@" > /dev/null
    "$B/sim" compare --predicted "p_$name.jsonl" --measured "$measured" --min-agreement 99.5 --max-median-error 10 --max-p95-error 25 --max-p50-shift 10 --max-p95-shift 25 > "c_$name.txt" 2>&1 || true
    # One value per phase (no sampled noise): what the per-record errors
    # are best judged by (a draw against a measurement adds both spreads).
    "$B/sim" --trace "$trace" --config "$cfg" --calibration "$cal" --records "p_${name}_point.jsonl" --no-noise "$@" > /dev/null
    "$B/sim" compare --predicted "p_${name}_point.jsonl" --measured "$measured" --min-agreement 99.5 --max-median-error 10 --max-p95-error 25 > "c_${name}_point.txt" 2>&1 || true
}
check t1_in_sample t1.json cfg.json fit1.json m_t1_seq.jsonl
check t1_off_in_sample t1.json cfg_off.json fit1.json m_t1_off.jsonl
for cal in fit1_for_t2 cal2; do
    check "t2_seq_$cal" t2.json cfg.json "$cal.json" m_t2_seq.jsonl
    check "t2_off_$cal" t2.json cfg_off.json "$cal.json" m_t2_off.jsonl
    check "t2_conc_$cal" t2.json cfg.json "$cal.json" m_t2_conc.jsonl --serial-setup
done
data=${SOCK_DATA:-$root/../shared/data}
if [ "${SOCK_HELDOUT_REAL:-1}" != 0 ] && [ -d "$data/azure-functions-2019" ]; then
    "$B/sim" trace build --data "$data" --slice 100 --functions 24 --max-closure-packages 6 --measured-closures --max-duration-ms 1000 --seed 5 --out real.json 2> real_build.txt
    "$B/sock-exec" calibrate -n 10 --trace real.json --out calr.json > calr.txt
    run real_seq real.json cfg.json calr.json "" --limit 300
    python3 -c '
import json
host, pkgs = json.load(open("fit1.json")), json.load(open("calr.json"))
host["packages"] = pkgs["packages"]
json.dump(host, open("fit1_for_real.json", "w"), indent=1)
'
    check real_seq_fit1_for_real real.json cfg.json fit1_for_real.json m_real_seq.jsonl
    check real_seq_calr real.json cfg.json calr.json m_real_seq.jsonl
else
    echo "real trace: skipped (no $data/azure-functions-2019, or SOCK_HELDOUT_REAL=0)"
fi
echo "done: $(date -u); reports: $out/c_*.txt (fit1_for_t2: host terms fitted on t1; cal2: t2's own micro-benchmarks)"
