"""sock-exec's Zygote server (SOCK §4.2): a Python interpreter that has
imported a set of packages and forks copies of itself into other lean
containers, so they start with those packages already imported.

Started by runtime.py when SOCK_ROLE=zygote. The Zygote lives in its own
lean container (its own cgroup, chroot, IPC/UTS namespaces) but in the
executor's PID namespace, and it keeps root: its children must join
other containers (cgroup, namespaces, chroot), which needs privileges.
Handlers it forks drop to the unprivileged user before they import or run
anything of their own. Stdlib plus ctypes only (Python 3.9+; unshare and
sethostname go through libc because os.unshare is 3.12+).

Protocol, one request per connection on the listening socket (fd 3):

    request:  one JSON object terminated by "\\n", sent with SCM_RIGHTS
              fds attached when op is "fork".
    replies:  JSON objects, one per line, then the Zygote closes.

    {"op": "ping"}
        -> {"event": "pong", "pid": P, "modules": [...], "import_us": N}
    {"op": "fork", "role": "handler"|"zygote", "imports": [modules],
     "pythonpath": "/packages/a:/packages/b", "uid": U, "gid": G,
     "spare": true|false, "spare_pid": P|null}
     fds: [root dir, listening socket, log file, /dev/null, the Zygote's
           own PID namespace, cgroup.procs...]
        -> {"event": "forked", "pid": P, "spare": B}  (the new process, our PID ns)
        -> {"event": "joined", "t_ns": T}     (in the container, privileges dropped)
        -> {"event": "imported", "import_us": N, "error": null|"...",
            "t0_ns": T, "t1_ns": T}
        -> {"event": "ready", "t_ns": T}      (serving on its socket)
        or, at any point: {"event": "error", "stage": S, "error": "..."}
    {"op": "refill"}   fds: [the Zygote's own PID namespace, cgroup.procs...]
        -> {"event": "spare", "pid": P, "spares": N}  (P has joined that cgroup)

Times (`t_ns`) are CLOCK_MONOTONIC nanoseconds, the clock the executor
reads too, so each phase is measured between two step boundaries.

Spares (pre-forked children, issue 9): `refill` forks a child that is
already PID 1 of its own new PID namespace, has joined the cgroup whose
cgroup.procs fds came with the request (a pooled cgroup the executor
reserved for it: a cold cgroup v1 join costs ~10 ms, so it is paid here,
off the critical path), has its own IPC and UTS namespaces and hostname,
and waits on a private socket pair. A handler fork with "spare": true
hands the request, its fds and the reply connection to the spare named
by "spare_pid" (the executor made the target container in that spare's
cgroup; without a pid, the oldest live one) instead of forking: the spare
only enters the root, drops privileges and imports. When that spare is
dead (killed), it forks as usual, into the request's cgroup, and says
"spare": false. Spares that died are dropped (their socket reads EOF)
before every refill, hand-off and ping. Refills are the executor's to ask
for (sock-core decides them), so this server never forks on its own.

One fork per request: for a handler the Zygote first moves its
children's PID namespace to a new one (unshare(CLONE_NEWPID)), forks, and
moves it back (setns to its own, passed by the executor: /proc is not
mounted in the chroot), so the child is PID 1 of a fresh namespace
without a second fork of a large process. The child joins the target's
cgroup by writing to the cgroup.procs fds, unshares IPC and UTS, enters
the target's root with fchdir + chroot, places its fds, drops privileges
(handlers), imports what the Zygote lacked, and serves: a handler over
HTTP (runtime.py), a Zygote as this server. The Zygote reaps its exited
children on SIGCHLD (no zombies); when it dies they are reparented to the
executor, a child subreaper.
"""

import _signal
import _socket
import array
import ctypes
import gc
import posix
import sys
import time

CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
PR_SET_NO_NEW_PRIVS = 38
F_DUPFD = 0
MAX_FDS = 16
LISTEN_FD = 3

_libc = ctypes.CDLL(None, use_errno=True)

# What this Zygote has imported (its own and its ancestors' packages).
STATE = {"modules": [], "import_us": 0, "pid": 0}
# Pre-forked children waiting for a container: (pid, our socket end).
SPARES = []
# Step boundaries of the fork being served, (name, monotonic ns), sent with
# "joined" so the executor can break the fork phase down (BENCHMARKS.md).
STEPS = []


def _check(ret, what):
    if ret != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, "%s: %s" % (what, posix.strerror(errno)))


def send(conn, rt, obj):
    conn.sendall((rt.dumps(obj) + "\n").encode())


def now_ns():
    return time.monotonic_ns()


def receive(conn):
    """Reads one request line and the fds sent with it."""
    data = b""
    fds = array.array("i")
    while b"\n" not in data:
        msg, ancdata, _flags, _addr = conn.recvmsg(65536, _socket.CMSG_SPACE(MAX_FDS * fds.itemsize))
        for level, kind, payload in ancdata:
            if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                usable = len(payload) - len(payload) % fds.itemsize
                fds.frombytes(payload[:usable])
        if not msg:
            break
        data += msg
    return data.partition(b"\n")[0], list(fds)


def main(rt):
    """The Zygote's entry point (fresh start): import, then serve."""
    import_us, error = rt.import_modules(rt.env_list("SOCK_IMPORTS"))
    if error is not None:
        sys.stderr.write("zygote: %s\n" % error)
        sys.stderr.flush()
        posix._exit(1)
    STATE["modules"] = rt.env_list("SOCK_IMPORTS")
    STATE["import_us"] = import_us
    serve(rt)


def serve(rt):
    STATE["pid"] = posix.getpid()
    # Reap exited children (forked handlers and Zygotes) as they exit.
    _signal.signal(_signal.SIGCHLD, rt._reap)
    _signal.signal(_signal.SIGTERM, lambda _s, _f: posix._exit(0))
    # A process's first compile() builds the compiler's AST types (~1 ms,
    # measured: BENCHMARKS.md "The compiler warmed in the Zygote"); done
    # here once, every handler forked from us loads its source without it.
    compile("def f(event):\n    return event\n", "<zygote warm-up>", "exec")
    # Objects alive now are never collected: keeps the garbage collector
    # from writing to (and so copying) pages shared with forked children.
    gc.freeze()
    listener = _socket.socket(fileno=LISTEN_FD)
    while True:
        try:
            fd, _ = listener._accept()
        except InterruptedError:
            continue
        conn = _socket.socket(fileno=fd)
        try:
            handle(rt, conn)
        except Exception as e:  # a bad request must not take the Zygote down
            try:
                send(conn, rt, {"event": "error", "stage": "request", "error": "%s: %s" % (type(e).__name__, e)})
            except OSError:
                pass
        finally:
            conn.close()


def handle(rt, conn):
    line, fds = receive(conn)
    try:
        req = rt.loads(line.decode())
        op = req.get("op")
        if op == "ping":
            prune_spares()
            send(conn, rt, {"event": "pong", "pid": posix.getpid(), "modules": STATE["modules"], "import_us": STATE["import_us"], "spares": len(SPARES)})
        elif op == "fork":
            fork(rt, conn, req, fds)
        elif op == "refill":
            if len(fds) < 1:
                raise ValueError("a refill needs the Zygote's PID namespace fd (then cgroup.procs fds), got none")
            pid = make_spare(rt, fds[0], fds[1:])
            send(conn, rt, {"event": "spare", "pid": pid, "spares": len(SPARES)})
        else:
            send(conn, rt, {"event": "error", "stage": "request", "error": "unknown op %r" % (op,)})
    finally:
        for fd in fds:
            try:
                posix.close(fd)
            except OSError:
                pass


def fork(rt, conn, req, fds):
    role = req.get("role")
    if role not in ("handler", "zygote"):
        raise ValueError("role must be handler or zygote, not %r" % (role,))
    if len(fds) < 6:
        raise ValueError("a fork needs at least 6 fds (root, socket, log, null, pid ns, cgroup), got %d" % len(fds))
    STEPS[:] = [("request", now_ns())]
    if role == "handler" and req.get("spare") and hand_to_spare(rt, conn, req, fds):
        return
    # A handler is PID 1 of a new PID namespace; a child Zygote stays in ours.
    pid = fork_into_new_pidns(fds[4]) if role == "handler" else posix.fork()
    if pid == 0:
        try:
            child(rt, conn, req, fds, role)
        except BaseException as e:
            report_enter_error(rt, conn, e)
        posix._exit(1)
    send(conn, rt, {"event": "forked", "pid": pid, "spare": False})


def fork_into_new_pidns(pidns):
    """Forks once so that the child is PID 1 of a new PID namespace:
    unshare(CLONE_NEWPID) moves our future children's namespace, and setns
    to `pidns` (our own, passed by the executor: no /proc in the chroot)
    moves it back for the next one. A Zygote that cannot go back is broken:
    it exits so the executor repairs it."""
    _check(_libc.unshare(CLONE_NEWPID), "unshare(CLONE_NEWPID)")
    try:
        return posix.fork()
    finally:
        if posix.getpid() == STATE["pid"] and _libc.setns(pidns, CLONE_NEWPID) != 0:
            posix._exit(3)


def report_enter_error(rt, conn, e):
    """A child that failed to enter its container says so, if it still can."""
    try:
        send(conn, rt, {"event": "error", "stage": "enter", "error": "%s: %s" % (type(e).__name__, e)})
    except BaseException:
        pass


def join_cgroup(procs):
    """Moves this (single-threaded) process into the target's cgroup: the
    executor's join file per hierarchy (v1: `tasks`, v2: `cgroup.procs`)."""
    for cg in procs:
        posix.write(cg, b"0")
    STEPS.append(("cgroup", now_ns()))


def make_spare(rt, pidns, procs):
    """Forks a spare into a new PID namespace, in the cgroup of `procs`
    (cgroup.procs fds), and waits until it is set up."""
    prune_spares()
    ours, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
    pid = fork_into_new_pidns(pidns)
    if pid == 0:
        try:
            ours.close()
            spare(rt, theirs, procs)
        except BaseException as e:
            sys.stderr.write("zygote spare: %s: %s\n" % (type(e).__name__, e))
            sys.stderr.flush()
        posix._exit(1)
    theirs.close()
    if ours.recv(1) != b"w":
        ours.close()
        raise OSError("the spare %d died while it was set up" % pid)
    SPARES.append((pid, ours))
    return pid


def spare(rt, sock, procs):
    """A pre-forked child: joins its reserved cgroup and sets up what needs
    no container, then waits."""
    _signal.signal(_signal.SIGCHLD, _signal.SIG_DFL)
    _signal.signal(_signal.SIGTERM, lambda _s, _f: posix._exit(0))
    # First, before the fds are closed: the slow part of a cold cgroup v1
    # join happens now, not when a container is waiting for us.
    for cg in procs:
        posix.write(cg, b"0")
    joined = bool(procs)
    # Keep only stdio and our socket: the Zygote's listener, its other
    # spares' sockets and any request fds are not ours to hold.
    keep = sock.fileno()
    forget_spares()
    posix.closerange(3, keep)
    posix.closerange(keep + 1, 1 << 16)
    _check(_libc.unshare(CLONE_NEWIPC | CLONE_NEWUTS), "unshare(CLONE_NEWIPC|CLONE_NEWUTS)")
    name = b"sock"
    _check(_libc.sethostname(name, len(name)), "sethostname")
    sock.sendall(b"w")
    line, fds = receive(sock)
    sock.close()
    if not line:
        posix._exit(0)  # the Zygote went away
    req = rt.loads(line.decode())
    # fds: the reply connection, then the fork request's fds without the
    # PID namespace (root, socket, log, null, cgroup.procs...).
    conn = _socket.socket(fileno=fds[0])
    STEPS[:] = [("handed", now_ns())]
    try:
        if joined:
            STEPS.append(("cgroup", now_ns()))  # joined at refill time
        else:
            join_cgroup(fds[5:])
        c2(rt, conn, req, fds[1:5], "handler")
    except BaseException as e:
        report_enter_error(rt, conn, e)
    posix._exit(1)


def forget_spares():
    """In a forked child: the Zygote's spare sockets are not ours. Detach
    (never close) them: their numbers are about to name other files."""
    for _pid, sock in SPARES:
        sock.detach()
    SPARES.clear()


def prune_spares():
    """Drops spares that died (killed): their end of the pair reads EOF (a
    live spare never writes after its "w")."""
    live = []
    for pid, sock in SPARES:
        try:
            dead = sock.recv(1, _socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            dead = False
        except OSError:
            dead = True
        if dead:
            sock.close()
        else:
            live.append((pid, sock))
    SPARES[:] = live


def hand_to_spare(rt, conn, req, fds):
    """Gives a handler fork to the spare named by "spare_pid" (the oldest
    live one without a name); False if it is dead or none is left."""
    line = (rt.dumps(req) + "\n").encode()
    handoff = [conn.fileno()] + fds[0:4] + fds[5:]
    want = req.get("spare_pid")
    prune_spares()
    # The spare's steps start where it receives this; ours ends here.
    for i, (pid, sock) in enumerate(SPARES):
        if want is not None and pid != want:
            continue
        del SPARES[i]
        try:
            sock.sendmsg([line], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, array.array("i", handoff))])
        except OSError:
            return False  # it died since the prune: fork into its cgroup instead
        finally:
            sock.close()
        send(conn, rt, {"event": "forked", "pid": pid, "spare": True})
        return True
    return False


def child(rt, conn, req, fds, role):
    """Joins the target's cgroup and IPC/UTS namespaces, then enters it."""
    STEPS.append(("forked", now_ns()))
    join_cgroup(fds[5:])
    _check(_libc.unshare(CLONE_NEWIPC | CLONE_NEWUTS), "unshare(CLONE_NEWIPC|CLONE_NEWUTS)")
    STEPS.append(("namespaces", now_ns()))
    c2(rt, conn, req, fds, role)


def c2(rt, conn, req, fds, role):
    """The new container's first process: enter, drop privileges, import, serve."""
    _signal.signal(_signal.SIGCHLD, _signal.SIG_DFL)
    root, listen, log, null = fds[0], fds[1], fds[2], fds[3]
    name = b"sock"
    _check(_libc.sethostname(name, len(name)), "sethostname")
    # Place fds: 0 null, 1-2 log, 3 the container's listening socket, 4 the
    # reply connection; everything else (the Zygote's own socket, the
    # request fds) is closed. Copies above 100 first, so no dup2 below can
    # overwrite a source it still needs.
    high = [_libc.fcntl(fd, F_DUPFD, 100) for fd in (null, log, log, listen, conn.fileno(), root)]
    if min(high) < 0:
        _check(-1, "fcntl(F_DUPFD)")
    for dst, src in enumerate(high):
        posix.dup2(src, dst)
    forget_spares()
    posix.closerange(6, 1 << 16)
    conn.detach()  # its number now names another file; forget it
    conn = _socket.socket(fileno=4)
    STEPS.append(("fds", now_ns()))
    posix.fchdir(5)
    posix.chroot(".")
    posix.chdir("/")
    posix.close(5)
    STEPS.append(("chroot", now_ns()))
    if role == "handler":
        posix.setgroups([])
        posix.setresgid(req["gid"], req["gid"], req["gid"])
        posix.setresuid(req["uid"], req["uid"], req["uid"])
        _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
    t = now_ns()
    STEPS.append(("privileges", t))
    send(conn, rt, {"event": "joined", "t_ns": t, "steps": STEPS})
    rt.add_paths(req.get("pythonpath", ""))
    imports = req.get("imports", [])
    t0 = now_ns()
    import_us, error = rt.import_modules(imports)
    t1 = now_ns()
    if error is not None and role == "zygote":
        send(conn, rt, {"event": "error", "stage": "import", "error": error})
        posix._exit(1)
    # A handler whose import failed still serves: every request gets a 500
    # naming the error, as in a fresh container.
    send(conn, rt, {"event": "imported", "import_us": import_us, "error": error, "t0_ns": t0, "t1_ns": t1})
    if role == "zygote":
        STATE["modules"] = STATE["modules"] + imports
        STATE["import_us"] = import_us
        send(conn, rt, {"event": "ready", "t_ns": now_ns()})
        conn.close()
        serve(rt)
        return
    if error is None:
        f, load_error = rt.load_handler()
    else:
        f, load_error = None, error
    send(conn, rt, {"event": "ready", "load_error": load_error, "t_ns": now_ns()})
    conn.close()
    rt.STARTUP["import_us"] = import_us
    rt.STARTUP["import_t0_ns"] = t0
    rt.STARTUP["import_t1_ns"] = t1
    _signal.signal(_signal.SIGCHLD, rt._reap)
    _signal.signal(_signal.SIGTERM, rt._exit_on_term)
    listener = _socket.socket(fileno=LISTEN_FD)
    while True:
        rt.serve_one(listener, f, load_error)
