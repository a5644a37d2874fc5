#!/usr/bin/python3
"""The in-process floor of SOCK's case study (issue 13).

A plain single-process Python HTTP server (stdlib http.server,
ThreadingHTTPServer, HTTP/1.1 keep-alive) serving the worker's API by
calling each registry function's f(event) in this process, each imported
once at start: no containers, no forks, no IPC. It is the throughput floor
`sock-exec worker` is compared to ("within 2x of a plain HTTP server that
calls the same Python function in-process").

    /usr/bin/python3 exec/bench/floor_server.py --registry DIR --port P \
        [--listen 127.0.0.1] [--packages-path DIR1:DIR2]

API: POST /run/<function> (JSON body in, f's JSON out; 400 bad JSON, 404
unknown function, 500 {"error": ...} when f raises), GET /status,
GET /stats. --packages-path folders (e.g. install-cache package folders
from `sock-exec install`) go on sys.path before the functions import.
Prints "floor listening on http://HOST:PORT" once ready.
"""
import argparse
import importlib.util
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FUNCTIONS = {}
STATS = {"ok": 0, "failed": 0}
LOCK = threading.Lock()


def load_registry(root):
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name, "f.py")
        if name.startswith(".") or not os.path.isfile(path):
            continue
        spec = importlib.util.spec_from_file_location("fn_" + name, path)
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, os.path.join(root, name))
        try:
            spec.loader.exec_module(module)
            FUNCTIONS[name] = module.f
        except Exception as e:  # served as each call's 500, as the workers do
            FUNCTIONS[name] = e
        finally:
            sys.path.pop(0)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # One write per response (handle_one_request flushes after each) and
    # no Nagle: head and body in separate segments would otherwise wait
    # for the client's delayed ACK (40 ms per request on Linux).
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def reply(self, status, value):
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Sock-Path", "in_process")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/status":
            self.reply(200, {"ok": True, "worker": "floor", "functions": sorted(FUNCTIONS)})
        elif path == "/stats":
            with LOCK:
                self.reply(200, dict(STATS))
        else:
            self.reply(404, {"error": "no such path %r" % path})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = self.path.split("?")[0]
        if not path.startswith("/run/"):
            return self.reply(404, {"error": "no such path %r" % path})
        name = path[len("/run/"):]
        f = FUNCTIONS.get(name)
        if f is None:
            return self.reply(404, {"error": "no function %r in the registry" % name})
        try:
            event = json.loads(raw) if raw.strip() else None
        except ValueError as e:
            return self.reply(400, {"error": "the body is not JSON: %s" % e})
        if isinstance(f, Exception):
            return self.reply(500, {"error": "import f.py: %s: %s" % (type(f).__name__, f)})
        try:
            result = f(event)
            body = json.dumps(result)
        except Exception as e:
            with LOCK:
                STATS["failed"] += 1
            return self.reply(500, {"error": "%s: %s" % (type(e).__name__, e)})
        with LOCK:
            STATS["ok"] += 1
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Sock-Path", "in_process")
        self.end_headers()
        self.wfile.write(data)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--registry", required=True)
    p.add_argument("--port", type=int, default=8070)
    p.add_argument("--listen", default="127.0.0.1")
    p.add_argument("--packages-path", default="")
    args = p.parse_args()
    for d in reversed([d for d in args.packages_path.split(":") if d]):
        sys.path.insert(0, d)
    load_registry(args.registry)
    ThreadingHTTPServer.daemon_threads = True
    server = ThreadingHTTPServer((args.listen, args.port), Handler)
    print("floor listening on http://%s:%d" % server.server_address[:2], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
