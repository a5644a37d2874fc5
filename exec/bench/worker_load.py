#!/usr/bin/env python3
"""HTTP load test of `sock-exec worker` beside its baselines (issue 13).

Runs, one system at a time on loopback, `hey` (Debian's package) against
`POST /run/<function>` and reports throughput and client-side latency
percentiles per concurrency:

- sock warm:      `sock-exec worker`, default tiers (handler hits);
- sock grace:     the same, idle handlers paused after a 100 ms grace
                  (`tiers.handler.pause_grace_ms`);
- sock zygote:    handler tier off (every call forks from a Zygote);
- sock fresh:     handler tier and Zygotes off (a fresh lean container per call);
- floor:          `exec/bench/floor_server.py`, one Python process calling
                  f(event) in-process (the throughput floor);
- docker warm / paused / cold: `sock-exec docker-worker` with a warm pool
                  of containers (never paused; paused after each call with
                  `--pause-idle`, OpenWhisk-style, as sock pauses its idle
                  handlers), and with `--warm-pool 0` (a `docker run` per
                  call), when Docker is reachable.

With --hostile, while the warm hello load runs, another client calls
hostile functions (memory hog, fork bomb, endless loop, crash, writes to
read-only paths) in a loop; every hello call must still answer 200, and
after the stop no cgroup of the worker is left.

Bounded: each run is `-n REQUESTS` (fewer for cold starts) with a 30 s
per-request timeout; only 127.0.0.1 is contacted. Needs root (the worker)
and a built `target/release/sock-exec`.

    sudo python3 exec/bench/worker_load.py --out worker_load.csv
"""

import argparse
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
EXE = os.path.join(ROOT, "target", "release", "sock-exec")

HOSTILE = {
    "memhog": "def f(event):\n    b = b'x' * (1 << 30)\n    return {'len': len(b)}\n",
    "forkbomb": (
        "import os, time\n\ndef f(event):\n    n = 0\n    while n < 10000:\n"
        "        try:\n            pid = os.fork()\n        except OSError as e:\n"
        "            return {'forked': n}\n        if pid == 0:\n            time.sleep(5)\n"
        "            os._exit(0)\n        n += 1\n    return {'forked': n}\n"
    ),
    "spin": "def f(event):\n    while True:\n        pass\n",
    "crash": "import os\n\ndef f(event):\n    os._exit(1)\n",
    "readonly": "def f(event):\n    open('/usr/lib/evil', 'w').write('x')\n",
}


def cpu_model():
    out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("Model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def free_port():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_up(url, proc, timeout=300):
    t = time.time()
    while time.time() - t < timeout:
        if proc.poll() is not None:
            raise RuntimeError("the server exited with %s" % proc.returncode)
        try:
            urllib.request.urlopen(url + "/status", timeout=2).read()
            return
        except Exception:
            time.sleep(0.3)
    raise RuntimeError("the server at %s did not come up in %d s" % (url, timeout))


def stop(proc, timeout=60):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def hey(url, function, n, c, body, duration_s=None):
    """`hey -n N` (or `-z DURATION` when given) against one function."""
    count = ["-z", "%ds" % duration_s] if duration_s else ["-n", str(n)]
    out = subprocess.run(
        ["hey"] + count + ["-c", str(c), "-t", "30", "-m", "POST",
                           "-T", "application/json", "-d", body, "%s/run/%s" % (url, function)],
        capture_output=True, text=True, timeout=600,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    q = {p: float(v) * 1e3 for p, v in re.findall(r"(\d+)% in ([\d.]+) secs", out)}
    slowest = re.search(r"Slowest:\s+([\d.]+) secs", out)
    if not q.get("99") and slowest:
        q["99"] = float(slowest.group(1)) * 1e3  # too few calls for hey's 99th
    codes = {int(k): int(v) for k, v in re.findall(r"\[(\d+)\]\s+(\d+) responses", out)}
    errors = sum(int(v) for v in re.findall(r"\[\d+\]\s+(\d+) errors?", out))
    return {"rps": rps, "p50_ms": q.get("50", 0.0), "p99_ms": q.get("99", 0.0),
            "ok": codes.get(200, 0), "not_ok": sum(v for k, v in codes.items() if k != 200) + errors}


def registry(tmp, src, hostile):
    reg = os.path.join(tmp, "registry")
    shutil.copytree(src, reg)
    if hostile:
        for name, code in HOSTILE.items():
            d = os.path.join(reg, name)
            os.makedirs(d)
            with open(os.path.join(d, "f.py"), "w") as fh:
                fh.write(code)
    for dirpath, dirs, files in os.walk(reg):
        os.chmod(dirpath, 0o755)
        for f in files:
            os.chmod(os.path.join(dirpath, f), 0o644)
    return reg


def hostile_caller(url, name, stop_flag, counts, lock):
    """Calls one hostile function in a loop until `stop_flag`."""
    while not stop_flag.is_set():
        req = urllib.request.Request(url + "/run/" + name, data=b"{}", method="POST")
        try:
            status = urllib.request.urlopen(req, timeout=30).status
        except urllib.error.HTTPError as e:
            status = e.code
        except Exception:
            status = -1
        with lock:
            key = "%s %s" % (name, status)
            counts[key] = counts.get(key, 0) + 1


def with_hostile(url, run):
    """Runs `run()` while every hostile function is called in a loop."""
    flag, counts, lock = threading.Event(), {}, threading.Lock()
    threads = [threading.Thread(target=hostile_caller, args=(url, n, flag, counts, lock))
               for n in HOSTILE]
    for t in threads:
        t.start()
    try:
        r = run()
    finally:
        flag.set()
        for t in threads:
            t.join()
    return r, counts


SOCK_CONFIGS = {
    "sock warm": {},
    # Paused only once idle 100 ms (OpenWhisk's pause grace): back-to-back
    # hits need no freeze and thaw.
    "sock grace": {"tiers": {"handler": {"pause_grace_ms": 100}}},
    "sock zygote": {"tiers": {"handler": {"budget_mb": 0}}},
    "sock fresh": {"tiers": {"handler": {"budget_mb": 0}, "zygote": {"mode": "off"}}},
}


def sock_runs(args, tmp, reg, rows, cpu, names):
    for system in names:
        cfg = SOCK_CONFIGS[system]
        path = os.path.join(tmp, system.replace(" ", "_") + ".json")
        with open(path, "w") as fh:
            json.dump(cfg, fh)
        port = free_port()
        url = "http://127.0.0.1:%d" % port
        log = open(os.path.join(tmp, system.replace(" ", "_") + ".log"), "w")
        proc = subprocess.Popen(
            [EXE, "worker", "--registry", reg, "--listen", "127.0.0.1:%d" % port,
             "--config", path, "--timeout-s", "5",
             "--cgroup-prefix", "sock-exec-bench-worker"],
            stdout=log, stderr=log)
        try:
            wait_up(url, proc)
            for function, body in args.functions:
                warm = system in ("sock warm", "sock grace")
                n = args.requests if warm else args.cold_requests
                hey(url, function, 20, 1, body)  # warm-up (installs, first start)
                for c in args.concurrency:
                    r = hey(url, function, n, c, body)
                    r.update(system=system, function=function, concurrency=c, cpu=cpu, hostile="")
                    rows.append(r)
                    print_row(r)
                if args.hostile and system == "sock warm" and function == "hello":
                    # The same warm load for 15 s while hostile functions run.
                    r, counts = with_hostile(url, lambda: hey(url, function, 0, 2, body, 15))
                    r.update(system=system + " +hostile", function=function, concurrency=2,
                             cpu=cpu, hostile=json.dumps(counts, sort_keys=True))
                    rows.append(r)
                    print_row(r)
        finally:
            code = stop(proc)
            log.close()
        left = [d for d in leftover_cgroups("sock-exec-bench-worker")]
        if code != 0 or left:
            print("!!! %s: exit %s, cgroups left: %s" % (system, code, left), file=sys.stderr)


def leftover_cgroups(prefix):
    out = []
    for ctl in ["memory", "pids", "cpu", "freezer", ""]:
        d = os.path.join("/sys/fs/cgroup", ctl, prefix)
        if os.path.isdir(d):
            out += [os.path.join(d, e) for e in os.listdir(d)
                    if os.path.isdir(os.path.join(d, e)) and not e.startswith("pool")]
    return out


def server_runs(args, tmp, reg, rows, cpu, system, argv, functions):
    port = free_port()
    url = "http://127.0.0.1:%d" % port
    log = open(os.path.join(tmp, system.replace(" ", "_") + ".log"), "w")
    proc = subprocess.Popen([a.replace("{port}", str(port)) for a in argv], stdout=log, stderr=log)
    try:
        wait_up(url, proc)
        for function, body in functions:
            cold = "cold" in system
            n = args.cold_requests if cold or "paused" in system else args.requests
            hey(url, function, 5 if cold else 20, 1, body)
            for c in args.concurrency:
                r = hey(url, function, n, c, body)
                r.update(system=system, function=function, concurrency=c, cpu=cpu, hostile="")
                rows.append(r)
                print_row(r)
    finally:
        stop(proc)
        log.close()


def print_row(r):
    print("%-12s %-8s c=%-3d %9.1f req/s  p50 %8.2f ms  p99 %8.2f ms  ok %d  not-ok %d %s" % (
        r["system"], r["function"], r["concurrency"], r["rps"], r["p50_ms"], r["p99_ms"],
        r["ok"], r["not_ok"], ("hostile " + r["hostile"]) if r["hostile"] else ""), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--registry", default=os.path.join(ROOT, "examples", "registry"))
    ap.add_argument("--out", default="worker_load.csv")
    ap.add_argument("--requests", type=int, default=3000, help="per warm run")
    ap.add_argument("--cold-requests", type=int, default=200, help="per cold-start run")
    ap.add_argument("--concurrency", default="1,2,4,8")
    ap.add_argument("--function", action="append", default=None,
                    help="NAME or NAME=JSON body (default: hello and numpy)")
    ap.add_argument("--systems", default="sock,floor,docker",
                    help="sock (all sock configs), or some of sock-warm, sock-grace, "
                         "sock-zygote, sock-fresh; floor; docker")
    ap.add_argument("--hostile", action="store_true")
    ap.add_argument("--packages-path", default="",
                    help="the floor server's sys.path additions (colon-separated)")
    args = ap.parse_args()
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    fns = args.function or ["hello", "numpy"]
    args.functions = [(f.split("=", 1)[0], f.split("=", 1)[1] if "=" in f else "{}") for f in fns]
    systems = args.systems.split(",")
    cpu = cpu_model()
    print("CPU:", cpu, flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="worker-load-") as tmp:
        os.chmod(tmp, 0o755)
        reg = registry(tmp, args.registry, args.hostile)
        names = [n for n in SOCK_CONFIGS
                 if "sock" in systems or n.replace(" ", "-") in systems]
        if names:
            sock_runs(args, tmp, reg, rows, cpu, names)
        if "floor" in systems:
            argv = [sys.executable, os.path.join(HERE, "floor_server.py"), "--registry", reg,
                    "--port", "{port}"]
            if args.packages_path:
                argv += ["--packages-path", args.packages_path]
            server_runs(args, tmp, reg, rows, cpu, "floor", argv, args.functions)
        if "docker" in systems and shutil.which("docker"):
            # A pool as large as the concurrency: warm calls never cold-start.
            pool = str(max(args.concurrency))
            for system, extra in [("docker warm", ["--warm-pool", pool]),
                                  ("docker paused", ["--warm-pool", pool, "--pause-idle"]),
                                  ("docker cold", ["--warm-pool", "0"])]:
                argv = [EXE, "docker-worker", "--registry", reg, "--port", "{port}"] + extra
                server_runs(args, tmp, reg, rows, cpu, system, argv, args.functions)
    with open(args.out, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["system", "function", "concurrency", "rps", "p50_ms",
                                           "p99_ms", "ok", "not_ok", "hostile", "cpu"])
        w.writeheader()
        w.writerows(rows)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
