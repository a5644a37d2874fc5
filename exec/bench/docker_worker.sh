#!/bin/sh
# Issue 13's load test of the baselines: the in-process floor server and
# `sock-exec docker-worker` (warm, paused-idle, per-call cold), with hey on
# loopback, for examples/registry's hello and resize (Pillow from PyPI).
#
#   cargo build --release --workspace && sudo exec/bench/docker_worker.sh
#
# Prints one line per run: the system, function, hey's -n/-c, requests/s,
# p50, p99 and max (ms; hey prints no p99 under ~100 requests), the status codes, and the worker's /stats paths.
set -eu
cd "$(dirname "$0")/../.."
BIN=${BIN:-target/release/sock-exec}
REG=${REG:-examples/registry}
PKGS=${PKGS:-/var/lib/sock-exec/packages}
PORT=${PORT:-8190}
N_WARM=${N_WARM:-2000}
N_COLD=${N_COLD:-40}
RESIZE='{"image":"clouds","width":200,"height":150}'
WORK=$(mktemp -d)
PID=""

stop() {
    if [ -n "$PID" ]; then
        kill -TERM "$PID" 2>/dev/null || true
        while kill -0 "$PID" 2>/dev/null; do sleep 0.1; done
        PID=""
    fi
}
trap 'stop; rm -rf "$WORK"' EXIT INT TERM

# start NAME CMD...: runs CMD in the background and waits for "listening".
start() {
    name=$1
    shift
    "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    PID=$!
    for _ in $(seq 1 600); do
        grep -q listening "$WORK/$name.out" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "$name did not start:" >&2
    cat "$WORK/$name.err" >&2
    exit 1
}

# load LABEL FUNCTION BODY N C: one hey run, one summary line.
load() {
    url="http://127.0.0.1:$PORT/run/$2"
    out=$(hey -n "$4" -c "$5" -m POST -T application/json -d "$3" "$url")
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p50=$(echo "$out" | awk '/ 50% in/ {printf "%.2f", $3 * 1000}')
    p99=$(echo "$out" | awk '/ 99% in/ {printf "%.2f", $3 * 1000}')
    max=$(echo "$out" | awk '/Slowest:/ {printf "%.2f", $2 * 1000}')
    codes=$(echo "$out" | awk '/^  \[[0-9]+\]/ {printf "%s%s", $1, $2}')
    stats=$(curl -s "http://127.0.0.1:$PORT/stats" | tr -d ' ')
    echo "$1 fn=$2 n=$4 c=$5 rps=$rps p50_ms=$p50 p99_ms=${p99:-n/a} max_ms=$max codes=$codes stats=$stats"
}

# The floor: both functions in one process, Pillow from the install cache.
$BIN install Pillow==11.0.0 >/dev/null
start floor /usr/bin/python3 exec/bench/floor_server.py --registry "$REG" \
    --port "$PORT" --packages-path "$PKGS/pillow==11.0.0"
hey -n 50 -c 2 -m POST -d '{}' "http://127.0.0.1:$PORT/run/hello" >/dev/null
hey -n 50 -c 2 -m POST -d "$RESIZE" "http://127.0.0.1:$PORT/run/resize" >/dev/null
for c in 1 2; do
    load floor hello '{}' "$N_WARM" $c
    load floor resize "$RESIZE" "$N_WARM" $c
done
stop

# dw LABEL C N ARGS...: a fresh docker worker, warmed with C calls at
# once per function, then one run per function.
dw() {
    label=$1 c=$2 n=$3
    shift 3
    start "$label" "$BIN" docker-worker --registry "$REG" --port "$PORT" "$@"
    for f in hello resize; do
        body='{}'
        [ $f = resize ] && body=$RESIZE
        hey -n "$c" -c "$c" -m POST -d "$body" "http://127.0.0.1:$PORT/run/$f" >/dev/null
        load "$label" $f "$body" "$n" "$c"
    done
    stop
}
dw docker-warm-pool1 1 "$N_WARM" --warm-pool 1
dw docker-warm-pool1 2 "$N_WARM" --warm-pool 1
dw docker-warm-pool2 2 "$N_WARM" --warm-pool 2
dw docker-paused-pool1 1 200 --warm-pool 1 --pause-idle
dw docker-paused-pool2 2 200 --warm-pool 2 --pause-idle
dw docker-paused-grace50-pool1 1 "$N_WARM" --warm-pool 1 --pause-idle --pause-grace-ms 50
dw docker-cold 1 "$N_COLD" --warm-pool 0
dw docker-cold 2 "$N_COLD" --warm-pool 0
