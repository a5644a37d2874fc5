"""sock-exec's in-container runtime: serves one handler over HTTP/1.1 on a
Unix socket.

Stdlib only, and only C-level modules (_socket, _json, posix, _signal):
`import socket` and `import json` pull in enum, selectors and re and cost
~10 ms, more than the whole lean container. The listening socket is
created by sock-exec and inherited as fd 3 (socket activation), so the
executor can connect before this interpreter has even started. It is
installed as the module /sock/sock_runtime.py and compiled to bytecode at
install time; /sock/runtime.py, the script the interpreter runs, only
imports it (a script would be compiled from source at every start).

Handler convention (OpenLambda's): /handler/f.py defines f(event); the
request body is the JSON event, the response body is f's JSON result.
A failing handler yields a 500 response with the error and the runtime
keeps serving. One request per connection (Connection: close).

Before loading the handler the runtime imports the modules listed in
SOCK_IMPORTS (a JSON list of strings, data never spliced into code; each
must be a dotted identifier; the packages sock-core planned to import on
this path) and reports the time that took in the `X-Sock-Import-Us`
response header; `X-Sock-Handler-Us` is the handler's own run time.
Step boundaries go with them as CLOCK_MONOTONIC nanoseconds (the clock
the executor reads too): `X-Sock-Import-Ns: T0 T1` around the start-up
imports, `X-Sock-Handler-Ns: T0 T1` around `f(event)` and the encoding
of its result, so every phase of a start is measured, none inferred.

With SOCK_ROLE=zygote the same interpreter becomes a Zygote server
instead (see zygote.py, beside this file).
"""

import _json
import _signal
import _socket
import posix
import sys
import time

LISTEN_FD = 3
HANDLER = "/handler/f.py"


def _reap(_signum, _frame):
    # PID 1 of the container's PID namespace: reap orphans so they do not
    # accumulate as zombies.
    while True:
        try:
            pid, _ = posix.waitpid(-1, posix.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _exit_on_term(_signum, _frame):
    posix._exit(0)


def _constant(name):
    return {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}[name]


class _DecodeContext:
    # The attributes json.JSONDecoder hands to the C scanner.
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = staticmethod(_constant)
    memo = {}


_scan = _json.make_scanner(_DecodeContext())


def _default(obj):
    raise TypeError("Object of type %s is not JSON serializable" % type(obj).__name__)


_encode = _json.make_encoder(None, _default, _json.encode_basestring_ascii, None, ":", ",", False, False, True)


def loads(text):
    text = text.strip()
    if not text:
        return None
    obj, end = _scan(text, 0)
    if end != len(text):
        raise ValueError("extra data after the JSON value at offset %d" % end)
    return obj


def dumps(obj):
    return "".join(_encode(obj, 0))


def add_paths(pythonpath):
    """Puts the container's package folders (colon-separated) first on sys.path."""
    for p in reversed([p for p in pythonpath.split(":") if p]):
        if p not in sys.path:
            sys.path.insert(0, p)


def is_module_name(name):
    """True for a dotted name of identifiers (`a`, `a.b_c`), what `import`
    takes: anything else is refused before it reaches the import system."""
    return isinstance(name, str) and name != "" and all(p.isidentifier() for p in name.split("."))


def import_modules(names):
    """Imports `names` in order; returns (microseconds, None) or (us, error)."""
    t0 = time.perf_counter_ns()
    for name in names:
        if not is_module_name(name):
            took = (time.perf_counter_ns() - t0) // 1000
            return took, "import %r: not a module name" % (name,)
        try:
            __import__(name)
        except BaseException as e:
            took = (time.perf_counter_ns() - t0) // 1000
            return took, "import %s: %s: %s" % (name, type(e).__name__, e)
    return (time.perf_counter_ns() - t0) // 1000, None


def env_list(name):
    """The JSON list of strings in the environment variable `name` ([] when
    unset or empty)."""
    text = posix.environ.get(name.encode(), b"").decode()
    if not text.strip():
        return []
    value = loads(text)
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise ValueError("%s must be a JSON list of strings, got %r" % (name, text))
    return value


def load_handler():
    """Returns (f, None) or (None, error message)."""
    try:
        with open(HANDLER, "rb") as src:
            code = compile(src.read(), HANDLER, "exec")
        env = {"__name__": "f", "__file__": HANDLER}
        exec(code, env)
        return env["f"], None
    except BaseException as e:  # report, keep serving
        return None, "cannot load %s: %s: %s" % (HANDLER, type(e).__name__, e)


def read_request(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            raise ValueError("connection closed before the request head")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            raise ValueError("connection closed in the request body")
        body += chunk
    return body[:length]


# Measured start-up work, reported in every response's headers.
STARTUP = {"import_us": 0, "import_t0_ns": 0, "import_t1_ns": 0}


def respond(conn, status, payload, span=(0, 0)):
    """`span`: the handler's (start, end) in monotonic ns; (0, 0) if it did not run."""
    body = payload.encode()
    reason = {200: "OK", 400: "Bad Request", 500: "Internal Server Error"}[status]
    head = (
        "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
        "X-Sock-Import-Us: %d\r\nX-Sock-Handler-Us: %d\r\n"
        "X-Sock-Import-Ns: %d %d\r\nX-Sock-Handler-Ns: %d %d\r\nConnection: close\r\n\r\n"
        % (
            status,
            reason,
            len(body),
            STARTUP["import_us"],
            (span[1] - span[0]) // 1000,
            STARTUP["import_t0_ns"],
            STARTUP["import_t1_ns"],
            span[0],
            span[1],
        )
    )
    conn.sendall(head.encode() + body)


def error_payload(e):
    import traceback  # only on the error path: it is not cheap to import

    return dumps({"error": "%s: %s" % (type(e).__name__, e), "traceback": traceback.format_exc()})


def serve_one(listener, f, load_error):
    fd, _ = listener._accept()
    conn = _socket.socket(fileno=fd)
    try:
        try:
            event = loads(read_request(conn).decode())
        except Exception as e:
            respond(conn, 400, dumps({"error": "bad request: %s: %s" % (type(e).__name__, e)}))
            return
        if f is None:
            respond(conn, 500, dumps({"error": load_error}))
            return
        t0 = time.monotonic_ns()
        try:
            result = dumps(f(event))
        except Exception as e:
            t1 = time.monotonic_ns()
            respond(conn, 500, error_payload(e), (t0, t1))
            return
        respond(conn, 200, result, (t0, time.monotonic_ns()))
    except OSError:
        pass  # the client went away; serve the next one
    finally:
        # shutdown, not just close: processes the handler forked share this
        # socket, and close alone would not end the connection for them.
        try:
            conn.shutdown(_socket.SHUT_RDWR)
        except OSError:
            pass
        conn.close()


def start_handler(import_us, import_error, span=(0, 0)):
    """Loads the handler and serves forever on fd 3 (fresh containers, and
    handlers forked from a Zygote once they have joined their container)."""
    _signal.signal(_signal.SIGCHLD, _reap)
    _signal.signal(_signal.SIGTERM, _exit_on_term)
    STARTUP["import_us"] = import_us
    STARTUP["import_t0_ns"], STARTUP["import_t1_ns"] = span
    listener = _socket.socket(fileno=LISTEN_FD)
    if import_error is None:
        f, load_error = load_handler()
    else:
        f, load_error = None, import_error
    while True:
        serve_one(listener, f, load_error)


def main():
    add_paths(posix.environ.get(b"SOCK_PYTHONPATH", b"").decode())
    if posix.environ.get(b"SOCK_ROLE") == b"zygote":
        import zygote

        zygote.main(sys.modules[__name__])
        return
    t0 = time.monotonic_ns()
    import_us, error = import_modules(env_list("SOCK_IMPORTS"))
    start_handler(import_us, error, (t0, time.monotonic_ns()))


if __name__ == "__main__":
    main()
