#!/usr/bin/env python3
"""SOCK's image-resizing case study (SOCK section 6; issue 13), on loopback.

The function `examples/registry/resize` (Pillow from PyPI) is called cold
and warm through the same HTTP API on each system, one system at a time,
in one run:

- sock, all tiers (warm): handler hits;
- sock, handler tier off (cold): every call forks from the Zygote tree
  (which grows a Zygote holding Pillow), packages from the install cache;
- sock, handler tier and Zygotes off (cold): a fresh lean container that
  imports Pillow, packages from the install cache;
- sock, no tier (cold): also the install cache off, so pip runs per call;
- docker (cold): `sock-exec docker-worker --warm-pool 0`, a `docker run`
  per call; docker paused (warm): a kept container paused after each call
  and unpaused by the next (OpenWhisk-style, as sock pauses its idle
  handlers); docker (warm): a kept container never paused.

Platform overhead = client latency - the handler's own time, which the
function measures itself (`handler_ms` in its answer), so every system is
charged the same way. Reported: the median overhead per system and path,
and the ratio of Docker's to sock's (SOCK: 2.8x vs AWS Lambda, 5.3x vs
OpenWhisk).

    sudo python3 exec/bench/case_study.py --out case_study.csv
"""

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import worker_load as wl  # noqa: E402


def timed_call(url, function, event):
    data = json.dumps(event).encode()
    req = urllib.request.Request("%s/run/%s" % (url, function), data=data, method="POST")
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=300) as r:
        body = r.read()
        status = r.status
        path = r.headers.get("X-Sock-Path", "")
    latency_ms = (time.perf_counter() - t0) * 1e3
    answer = json.loads(body)
    handler_ms = float(answer.get("handler_ms", 0.0))
    return status, path, latency_ms, handler_ms


def measure(url, function, event, n, warm):
    if warm:
        timed_call(url, function, event)  # the first call is cold
    rows = []
    for _ in range(n):
        status, path, lat, handler = timed_call(url, function, event)
        rows.append({"status": status, "path": path, "latency_ms": lat, "handler_ms": handler,
                     "overhead_ms": max(lat - handler, 0.0)})
    return rows


def start(argv, url, log):
    proc = subprocess.Popen(argv, stdout=log, stderr=log)
    wl.wait_up(url, proc, timeout=900)
    return proc


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--registry", default=os.path.join(wl.ROOT, "examples", "registry"))
    ap.add_argument("--function", default="resize")
    ap.add_argument("--event", default='{"image": "clouds", "width": 128, "height": 96}')
    ap.add_argument("--n", type=int, default=30, help="calls per system and path")
    ap.add_argument("--n-pip", type=int, default=5, help="calls with no install cache")
    ap.add_argument("--out", default="case_study.csv")
    ap.add_argument("--no-docker", action="store_true")
    args = ap.parse_args()
    event = json.loads(args.event)
    cpu = wl.cpu_model()
    print("CPU:", cpu, flush=True)
    sock = [
        ("sock all tiers", "warm", {}, args.n),
        ("sock handler tier off", "cold", {"tiers": {"handler": {"budget_mb": 0}}}, args.n),
        ("sock handler+zygote off", "cold",
         {"tiers": {"handler": {"budget_mb": 0}, "zygote": {"mode": "off"}}}, args.n),
        ("sock no tier", "cold",
         {"tiers": {"handler": {"budget_mb": 0}, "zygote": {"mode": "off"},
                    "install": {"budget_mb": 0}}}, args.n_pip),
    ]
    results = []
    with tempfile.TemporaryDirectory(prefix="case-study-") as tmp:
        os.chmod(tmp, 0o755)
        reg = wl.registry(tmp, args.registry, False)
        for system, kind, cfg, n in sock:
            path = os.path.join(tmp, "cfg.json")
            with open(path, "w") as fh:
                json.dump(cfg, fh)
            port = wl.free_port()
            url = "http://127.0.0.1:%d" % port
            with open(os.path.join(tmp, "sock.log"), "a") as log:
                proc = start([wl.EXE, "worker", "--registry", reg, "--listen", "127.0.0.1:%d" % port,
                              "--config", path, "--timeout-s", "300",
                              "--cgroup-prefix", "sock-exec-case-study"], url, log)
                try:
                    # The first call installs Pillow and (with Zygotes) grows its Zygote.
                    timed_call(url, args.function, event)
                    rows = measure(url, args.function, event, n, kind == "warm")
                finally:
                    wl.stop(proc)
            results.append((system, kind, rows))
            report(system, kind, rows)
        if not args.no_docker:
            for system, kind, extra in [("docker", "cold", ["--warm-pool", "0"]),
                                        ("docker paused", "warm", ["--warm-pool", "1", "--pause-idle"]),
                                        ("docker", "warm", ["--warm-pool", "1"])]:
                port = wl.free_port()
                url = "http://127.0.0.1:%d" % port
                with open(os.path.join(tmp, "docker.log"), "a") as log:
                    proc = start([wl.EXE, "docker-worker", "--registry", reg, "--port", str(port)]
                                 + extra, url, log)
                    try:
                        timed_call(url, args.function, event)
                        rows = measure(url, args.function, event, args.n, kind == "warm")
                    finally:
                        wl.stop(proc)
                results.append((system, kind, rows))
                report(system, kind, rows)
    med = {}
    with open(args.out, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["system", "kind", "n", "path", "latency_ms_p50", "handler_ms_p50",
                    "overhead_ms_p50", "overhead_ms_p95", "errors", "cpu"])
        for system, kind, rows in results:
            ok = [r for r in rows if r["status"] == 200]
            ov = sorted(r["overhead_ms"] for r in ok)
            m = statistics.median(ov) if ov else float("nan")
            med[(system, kind)] = m
            paths = sorted({r["path"] for r in ok})
            w.writerow([system, kind, len(rows), "/".join(paths),
                        "%.2f" % statistics.median(r["latency_ms"] for r in ok) if ok else "",
                        "%.2f" % statistics.median(r["handler_ms"] for r in ok) if ok else "",
                        "%.2f" % m, "%.2f" % ov[int(0.95 * (len(ov) - 1))] if ov else "",
                        len(rows) - len(ok), cpu])
    print("\nplatform overhead ratios (docker / sock, medians):")
    for docker, kind, sock_system in [("docker paused", "warm", "sock all tiers"),
                                      ("docker", "warm", "sock all tiers"),
                                      ("docker", "cold", "sock handler tier off"),
                                      ("docker", "cold", "sock handler+zygote off")]:
        d = med.get((docker, kind))
        s = med.get((sock_system, kind))
        if d and s:
            print("  %s: %s %.2f ms / %s %.2f ms = %.1fx" % (kind, docker, d, sock_system, s, d / s))
    print("wrote", args.out)


def report(system, kind, rows):
    ok = [r for r in rows if r["status"] == 200]
    if not ok:
        print("%-26s %-4s no successful call" % (system, kind), flush=True)
        return
    print("%-26s %-4s n=%-3d latency p50 %8.2f ms  handler p50 %7.2f ms  overhead p50 %8.2f ms  paths %s" % (
        system, kind, len(rows), statistics.median(r["latency_ms"] for r in ok),
        statistics.median(r["handler_ms"] for r in ok),
        statistics.median(r["overhead_ms"] for r in ok),
        ",".join(sorted({r["path"] for r in ok}))), flush=True)


if __name__ == "__main__":
    main()
