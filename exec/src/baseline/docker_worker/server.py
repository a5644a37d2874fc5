"""The in-container server of `sock-exec docker-worker` (one per container).

It imports the function once (/handler/f.py, packages on PYTHONPATH),
listens on the Unix socket /sock-io/s.sock (a host folder bind-mounted
into a container that has no network) and answers one JSON line per
request line: {"event": ...} in, {"ok": <f's return>} or {"error": "..."}
out. One connection at a time: the host sends one call at a time per
container. With SOCK_ONESHOT=1 it exits after the first answer (the
per-call container of --warm-pool 0).
"""
import json
import os
import socket
import sys
import traceback

SOCK = "/sock-io/s.sock"


def load():
    sys.path.insert(0, "/handler")
    try:
        import f as module  # noqa: E402 (the function's own f.py)

        return module.f, None
    except BaseException as e:  # an import error is each call's error
        return None, "import f.py: %s: %s" % (type(e).__name__, e)


def answer(handler, import_error, line):
    if import_error is not None:
        return {"error": import_error}
    try:
        event = json.loads(line)["event"]
    except Exception as e:
        return {"error": "bad request from the worker: %s" % e}
    try:
        result = handler(event)
        json.dumps(result)
        return {"ok": result}
    except Exception as e:
        traceback.print_exc(file=sys.stderr)
        return {"error": "%s: %s" % (type(e).__name__, e)}


def main():
    handler, import_error = load()
    oneshot = os.environ.get("SOCK_ONESHOT") == "1"
    try:
        os.unlink(SOCK)
    except FileNotFoundError:
        pass
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(SOCK)
    server.listen(8)
    while True:
        conn, _ = server.accept()
        with conn, conn.makefile("rb") as reader:
            for line in reader:
                out = json.dumps(answer(handler, import_error, line)) + "\n"
                conn.sendall(out.encode())
                if oneshot:
                    return


if __name__ == "__main__":
    main()
