//! Privileged tests of `sock-exec worker` (issue 13), run as a process
//! the way an operator runs it: every status code of the API, registry
//! changes picked up without a restart, concurrent calls all served,
//! hostile functions (memory hog, fork bomb, crash, endless loop, writes
//! to read-only paths) that do not stop the others, and a SIGTERM that
//! drains the call in flight and leaves no cgroup, mount, process or
//! container folder behind. Offline: the functions need no packages.

mod common;

use common::*;
use sock_core::record::InvocationRecord;
use std::collections::HashMap;
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    run_cases(
        "worker",
        &[
            (
                "api_answers_every_status_code",
                api_answers_every_status_code,
            ),
            (
                "registry_changes_are_picked_up_without_a_restart",
                registry_changes_are_picked_up_without_a_restart,
            ),
            (
                "concurrent_calls_are_all_served",
                concurrent_calls_are_all_served,
            ),
            (
                "hostile_functions_do_not_stop_the_others",
                hostile_functions_do_not_stop_the_others,
            ),
            (
                "sigterm_drains_and_leaves_nothing",
                sigterm_drains_and_leaves_nothing,
            ),
            (
                "a_killed_worker_is_cleaned_up_by_the_next_start",
                a_killed_worker_is_cleaned_up_by_the_next_start,
            ),
            (
                "within_the_pause_grace_a_hit_needs_no_thaw",
                within_the_pause_grace_a_hit_needs_no_thaw,
            ),
        ],
    );
}

const HELLO: &str = "def f(event):\n    return {'hello': 'world', 'event': event}\n";
const SLOW: &str = "import time\n\ndef f(event):\n    time.sleep(event.get('s', 0))\n    return {'slept': event.get('s', 0)}\n";

fn function(registry: &Path, name: &str, source: &str) {
    use std::os::unix::fs::PermissionsExt;
    let d = registry.join(name);
    std::fs::create_dir_all(&d).expect("function dir");
    std::fs::write(d.join("f.py"), source).expect("f.py");
    for (p, mode) in [
        (d.join("f.py"), 0o644),
        (d.clone(), 0o755),
        (registry.to_path_buf(), 0o755),
    ] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
}

struct Worker {
    child: Child,
    addr: String,
    state: PathBuf,
    prefix: PathBuf,
    log: PathBuf,
}

impl Worker {
    fn start(dir: &Path, case: &str, registry: &Path, extra: &[&str]) -> Result<Worker, String> {
        let state = dir.join("state");
        std::fs::create_dir_all(&state).map_err(|e| e.to_string())?;
        let base = base_root();
        let base_dir = base.parent().ok_or("base root has no parent")?;
        if !state.join("base").exists() {
            std::os::unix::fs::symlink(base_dir, state.join("base")).map_err(|e| e.to_string())?;
        }
        let log = dir.join("worker.log");
        let prefix = prefix(case);
        let mut child = Command::new(env!("CARGO_BIN_EXE_sock-exec"))
            .arg("--state")
            .arg(&state)
            .args(["worker", "--listen", "127.0.0.1:0", "--registry"])
            .arg(registry)
            .arg("--cgroup-prefix")
            .arg(&prefix)
            .args(extra)
            .env(
                "RUST_LOG",
                std::env::var("SOCK_TEST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).map_err(|e| e.to_string())?)
            .spawn()
            .map_err(|e| format!("spawn sock-exec worker: {e}"))?;
        let out = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut out = std::io::BufReader::new(out);
            let mut line = String::new();
            let _ = out.read_line(&mut line);
            let _ = tx.send(line);
            // Keep reading: the worker prints a summary when it stops.
            let _ = std::io::copy(&mut out, &mut std::io::sink());
        });
        let line = rx
            .recv_timeout(Duration::from_secs(120))
            .map_err(|_| format!("the worker did not start in 120 s; log: {}", tail(&log)))?;
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .ok_or_else(|| format!("no address in {line:?}; log: {}", tail(&log)))?
            .to_string();
        Ok(Worker {
            child,
            addr,
            state,
            prefix,
            log,
        })
    }

    fn call(&self, method: &str, path: &str, body: &str) -> Result<Reply, String> {
        call(&self.addr, method, path, body).map_err(|e| format!("{e}; log: {}", tail(&self.log)))
    }

    /// SIGTERM, then the exit status (within `within`).
    fn stop(mut self, within: Duration) -> Result<(bool, Worker), String> {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::SIGTERM).map_err(|e| e.to_string())?;
        let t = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().map_err(|e| e.to_string())? {
                return Ok((status.success(), self));
            }
            if t.elapsed() > within {
                let _ = self.child.kill();
                return Err(format!(
                    "the worker did not stop in {within:?}; log: {}",
                    tail(&self.log)
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Nothing of the worker is left: no cgroup below its prefix, no
    /// container folder, no mount under its state, no process rooted there.
    fn check_nothing_left(&self) -> TestResult {
        for ctl in ["memory", "pids", "cpu", "freezer", "unified", ""] {
            let d = Path::new("/sys/fs/cgroup").join(ctl).join(&self.prefix);
            if let Ok(entries) = std::fs::read_dir(&d) {
                let subs: Vec<_> = entries.flatten().filter(|e| e.path().is_dir()).collect();
                check(
                    subs.is_empty(),
                    format!("cgroups left below {}: {}", d.display(), subs.len()),
                )?;
            }
        }
        let containers = self.state.join("containers").join(&self.prefix);
        let left = std::fs::read_dir(&containers)
            .map(|i| i.count())
            .unwrap_or(0);
        check(
            left == 0,
            format!("{left} container folders left in {}", containers.display()),
        )?;
        let state = self.state.display().to_string();
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let left = mounts.lines().filter(|l| l.contains(&state)).count();
        check(left == 0, format!("{left} mounts left under {state}"))?;
        let rooted = std::fs::read_dir("/proc")
            .map(|d| {
                d.flatten()
                    .filter(|e| {
                        std::fs::read_link(e.path().join("root"))
                            .is_ok_and(|r| r.starts_with(&self.state))
                    })
                    .count()
            })
            .unwrap_or(0);
        check(
            rooted == 0,
            format!("{rooted} processes still rooted under {state}"),
        )
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::SIGTERM);
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(30) {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: HashMap<String, String>,
    body: String,
}

impl Reply {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

fn call(addr: &str, method: &str, path: &str, body: &str) -> Result<Reply, String> {
    let mut s = std::net::TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut text = String::new();
    s.read_to_string(&mut text)
        .map_err(|e| format!("{method} {path}: {e}"))?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or(format!("{method} {path}: no response head in {text:?}"))?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or(format!("bad status line in {head:?}"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(Reply {
        status,
        headers,
        body: body.to_string(),
    })
}

fn expect(r: &Reply, status: u16, what: &str) -> TestResult {
    check(
        r.status == status,
        format!("{what}: {} {}, not {status}", r.status, r.body),
    )
}

fn api_answers_every_status_code(dir: &Path) -> TestResult {
    let reg = dir.join("registry");
    function(&reg, "hello", HELLO);
    function(&reg, "slow", SLOW);
    function(
        &reg,
        "boom",
        "def f(event):\n    raise ValueError('boom')\n",
    );
    function(
        &reg,
        "crash",
        "import os\n\ndef f(event):\n    os._exit(3)\n",
    );
    let config = dir.join("worker.json");
    std::fs::write(
        &config,
        r#"{"worker": {"memory_mb": null, "cores": 1, "when_full": "queue", "max_wait_s": 0.3}}"#,
    )
    .map_err(|e| e.to_string())?;
    let cfg = config.display().to_string();
    let w = Worker::start(dir, "api", &reg, &["--timeout-s", "2", "--config", &cfg])?;
    let r = w.call("GET", "/status", "")?;
    expect(&r, 200, "GET /status")?;
    check(
        r.json()["functions"]
            .as_array()
            .is_some_and(|f| f.len() == 4),
        format!("status: {}", r.body),
    )?;
    let r = w.call("POST", "/run/hello", r#"{"a": 1}"#)?;
    expect(&r, 200, "hello")?;
    check(
        r.json()["event"]["a"] == 1,
        format!("the event reached f: {}", r.body),
    )?;
    let rec: InvocationRecord =
        serde_json::from_str(r.headers.get("x-sock-record").ok_or("no X-Sock-Record")?)
            .map_err(|e| format!("X-Sock-Record: {e}"))?;
    check(
        rec.function_name == "hello" && rec.latency_us > 0,
        format!("record {rec:?}"),
    )?;
    let sum: u64 = rec.phases_us.total();
    check(
        sum == rec.latency_us,
        format!("phases sum to {sum}, latency {}", rec.latency_us),
    )?;
    let r = w.call("POST", "/run/hello", "{}")?;
    expect(&r, 200, "hello again")?;
    check(
        r.headers.get("x-sock-path").map(String::as_str) == Some("handler_hit"),
        format!(
            "a second call is a handler hit: {:?}",
            r.headers.get("x-sock-path")
        ),
    )?;
    expect(&w.call("POST", "/run/nope", "{}")?, 404, "unknown function")?;
    expect(&w.call("POST", "/run/hello", "{bad")?, 400, "bad JSON")?;
    expect(&w.call("GET", "/run/hello", "")?, 405, "GET /run")?;
    expect(&w.call("GET", "/nowhere", "")?, 404, "unknown path")?;
    let r = w.call("POST", "/run/boom", "{}")?;
    expect(&r, 500, "a handler that raises")?;
    check(
        r.body.contains("ValueError: boom"),
        format!("500 names the error: {}", r.body),
    )?;
    expect(
        &w.call("POST", "/run/slow", r#"{"s": 10}"#)?,
        504,
        "a handler past --timeout-s",
    )?;
    expect(
        &w.call("POST", "/run/crash", "{}")?,
        502,
        "a handler that exits",
    )?;
    // One core: a call waiting longer than max_wait_s is dropped.
    let addr = w.addr.clone();
    let busy = std::thread::spawn(move || call(&addr, "POST", "/run/slow", r#"{"s": 1.5}"#));
    std::thread::sleep(Duration::from_millis(400));
    expect(&w.call("POST", "/run/hello", "{}")?, 503, "over capacity")?;
    let r = busy.join().map_err(|_| "thread")??;
    expect(&r, 200, "the call that held the core")?;
    let r = w.call("GET", "/stats", "")?;
    expect(&r, 200, "GET /stats")?;
    let s = r.json();
    check(
        s["dropped"] == 1 && s["status"]["503"] == 1,
        format!("stats count the drop: {}", r.body),
    )?;
    check(
        s["paths"]["handler_hit"].as_u64().is_some_and(|n| n >= 1),
        format!("stats: {}", r.body),
    )?;
    let (ok, w) = w.stop(Duration::from_secs(60))?;
    check(
        ok,
        format!("the worker exits 0 on SIGTERM; log: {}", tail(&w.log)),
    )?;
    w.check_nothing_left()
}

fn registry_changes_are_picked_up_without_a_restart(dir: &Path) -> TestResult {
    let reg = dir.join("registry");
    function(&reg, "hello", HELLO);
    let w = Worker::start(dir, "reload", &reg, &[])?;
    expect(&w.call("POST", "/run/hello", "{}")?, 200, "hello")?;
    expect(&w.call("POST", "/run/late", "{}")?, 404, "not there yet")?;
    let within = |want: &dyn Fn() -> Result<bool, String>, what: &str| -> TestResult {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(30) {
            if want()? {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Err(format!(
            "{what} not picked up in 30 s; log: {}",
            tail(&w.log)
        ))
    };
    function(&reg, "late", "def f(event):\n    return {'late': True}\n");
    within(
        &|| Ok(w.call("POST", "/run/late", "{}")?.status == 200),
        "an added function",
    )?;
    // A new modification time: the edit is seen (by the next catalog, and
    // by any container created from then on, which reads f.py anew).
    std::thread::sleep(Duration::from_millis(1100));
    function(
        &reg,
        "hello",
        "def f(event):\n    return {'hello': 'again', 'v': 2}\n",
    );
    within(
        &|| Ok(w.call("POST", "/run/hello", "{}")?.json()["v"] == 2),
        "an edited function",
    )?;
    std::fs::remove_dir_all(reg.join("late")).map_err(|e| e.to_string())?;
    within(
        &|| Ok(w.call("POST", "/run/late", "{}")?.status == 404),
        "a removed function",
    )?;
    let r = w.call("GET", "/stats", "")?;
    check(
        r.json()["reloads"].as_u64().is_some_and(|n| n >= 2),
        format!("stats count reloads: {}; log: {}", r.body, tail(&w.log)),
    )?;
    let (ok, w) = w.stop(Duration::from_secs(60))?;
    check(ok, "exit 0")?;
    w.check_nothing_left()
}

fn concurrent_calls_are_all_served(dir: &Path) -> TestResult {
    let reg = dir.join("registry");
    function(&reg, "slow", SLOW);
    let w = Worker::start(dir, "concurrent", &reg, &[])?;
    expect(&w.call("POST", "/run/slow", "{}")?, 200, "warm-up")?;
    let n = 12;
    let t = Instant::now();
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let addr = w.addr.clone();
            std::thread::spawn(move || call(&addr, "POST", "/run/slow", r#"{"s": 0.3}"#))
        })
        .collect();
    for th in threads {
        expect(&th.join().map_err(|_| "thread")??, 200, "a concurrent call")?;
    }
    let wall = t.elapsed().as_secs_f64();
    // One at a time would take n * 0.3 s = 3.6 s.
    check(
        wall < 0.3 * n as f64 * 0.75,
        format!("{n} calls of 0.3 s took {wall:.2} s: they did not overlap"),
    )?;
    let (ok, w) = w.stop(Duration::from_secs(60))?;
    check(ok, "exit 0")?;
    w.check_nothing_left()
}

fn hostile_functions_do_not_stop_the_others(dir: &Path) -> TestResult {
    let reg = dir.join("registry");
    function(&reg, "hello", HELLO);
    function(
        &reg,
        "memhog",
        "def f(event):\n    b = b'x' * (1 << 30)\n    return {'len': len(b)}\n",
    );
    function(
        &reg,
        "forkbomb",
        "import os, time\n\ndef f(event):\n    n = 0\n    while n < 10000:\n        try:\n            pid = os.fork()\n        except OSError as e:\n            return {'forked': n, 'stopped_by': str(e)}\n        if pid == 0:\n            time.sleep(20)\n            os._exit(0)\n        n += 1\n    return {'forked': n}\n",
    );
    function(
        &reg,
        "spin",
        "def f(event):\n    while True:\n        pass\n",
    );
    function(
        &reg,
        "readonly",
        "def f(event):\n    open('/usr/lib/evil', 'w').write('x')\n",
    );
    function(
        &reg,
        "handlerdir",
        "def f(event):\n    open('/handler/evil', 'w').write('x')\n",
    );
    function(
        &reg,
        "crash",
        "import os\n\ndef f(event):\n    os._exit(1)\n",
    );
    let w = Worker::start(dir, "hostile", &reg, &["--timeout-s", "3"])?;
    for (name, want) in [
        ("memhog", &[502, 500][..]),
        ("forkbomb", &[200, 500][..]),
        ("spin", &[504][..]),
        ("readonly", &[500][..]),
        ("handlerdir", &[500][..]),
        ("crash", &[502][..]),
    ] {
        let r = w.call("POST", &format!("/run/{name}"), "{}")?;
        check(
            want.contains(&r.status),
            format!("{name}: {} {}", r.status, r.body),
        )?;
        if name == "forkbomb" && r.status == 200 {
            let n = r.json()["forked"].as_u64().unwrap_or(u64::MAX);
            check(
                n < 100,
                format!(
                    "the fork bomb was not stopped by the pids limit: {}",
                    r.body
                ),
            )?;
        }
        let h = w.call("POST", "/run/hello", "{}")?;
        expect(&h, 200, &format!("hello after {name}"))?;
    }
    let (ok, w) = w.stop(Duration::from_secs(60))?;
    check(ok, format!("exit 0; log: {}", tail(&w.log)))?;
    w.check_nothing_left()
}

fn sigterm_drains_and_leaves_nothing(dir: &Path) -> TestResult {
    let reg = dir.join("registry");
    function(&reg, "hello", HELLO);
    function(&reg, "slow", SLOW);
    let sock = dir.join("worker.sock");
    let sock_arg = sock.display().to_string();
    let w = Worker::start(dir, "drain", &reg, &["--socket", &sock_arg])?;
    expect(&w.call("POST", "/run/hello", "{}")?, 200, "hello")?;
    // The same API on the Unix socket.
    let mut u =
        std::os::unix::net::UnixStream::connect(&sock).map_err(|e| format!("{sock_arg}: {e}"))?;
    u.write_all(b"POST /run/hello HTTP/1.1\r\nContent-Length: 14\r\nConnection: close\r\n\r\n{\"via\": \"uds\"}")
        .map_err(|e| e.to_string())?;
    let mut text = String::new();
    u.read_to_string(&mut text).map_err(|e| e.to_string())?;
    check(
        text.starts_with("HTTP/1.1 200") && text.contains("uds"),
        format!("over the Unix socket: {text:?}"),
    )?;
    expect(&w.call("POST", "/run/slow", "{}")?, 200, "slow warm-up")?;
    let addr = w.addr.clone();
    let inflight = std::thread::spawn(move || call(&addr, "POST", "/run/slow", r#"{"s": 1.0}"#));
    std::thread::sleep(Duration::from_millis(300));
    let addr = w.addr.clone();
    let (ok, w) = w.stop(Duration::from_secs(60))?;
    check(ok, format!("exit 0 on SIGTERM; log: {}", tail(&w.log)))?;
    let r = inflight.join().map_err(|_| "thread")??;
    expect(&r, 200, "the call in flight at SIGTERM is drained")?;
    check(
        call(&addr, "GET", "/status", "").is_err(),
        "nothing listens after the stop",
    )?;
    check(
        !sock.exists(),
        "the Unix socket file is removed at the stop",
    )?;
    w.check_nothing_left()
}

fn a_killed_worker_is_cleaned_up_by_the_next_start(dir: &Path) -> TestResult {
    let reg = dir.join("registry");
    function(&reg, "hello", HELLO);
    let mut w = Worker::start(dir, "crash", &reg, &[])?;
    expect(&w.call("POST", "/run/hello", "{}")?, 200, "hello")?;
    // SIGKILL: no teardown runs; a Zygote, a paused handler and their
    // cgroups and mounts stay behind.
    w.child.kill().map_err(|e| e.to_string())?;
    w.child.wait().map_err(|e| e.to_string())?;
    check(
        w.check_nothing_left().is_err(),
        "a killed worker left nothing: the test kills too late",
    )?;
    drop(w);
    let w = Worker::start(dir, "crash", &reg, &[])?;
    expect(
        &w.call("POST", "/run/hello", "{}")?,
        200,
        "hello after the restart",
    )?;
    let (ok, w) = w.stop(Duration::from_secs(60))?;
    check(ok, format!("exit 0; log: {}", tail(&w.log)))?;
    w.check_nothing_left()
}

fn within_the_pause_grace_a_hit_needs_no_thaw(dir: &Path) -> TestResult {
    let reg = dir.join("registry");
    function(&reg, "hello", HELLO);
    let config = dir.join("grace.json");
    std::fs::write(
        &config,
        r#"{"tiers": {"handler": {"pause_grace_ms": 1000}}}"#,
    )
    .map_err(|e| e.to_string())?;
    let cfg = config.display().to_string();
    let w = Worker::start(dir, "grace", &reg, &["--config", &cfg])?;
    let record = |r: &Reply| -> Result<InvocationRecord, String> {
        serde_json::from_str(r.headers.get("x-sock-record").ok_or("no X-Sock-Record")?)
            .map_err(|e| e.to_string())
    };
    expect(&w.call("POST", "/run/hello", "{}")?, 200, "cold")?;
    let soon = record(&w.call("POST", "/run/hello", "{}")?)?;
    std::thread::sleep(Duration::from_millis(1500));
    let late = record(&w.call("POST", "/run/hello", "{}")?)?;
    check(
        soon.path == sock_core::record::PathKind::HandlerHit
            && late.path == sock_core::record::PathKind::HandlerHit,
        format!("two handler hits: {:?} {:?}", soon.path, late.path),
    )?;
    check(
        soon.phases_us.unpause < 30 && late.phases_us.unpause > soon.phases_us.unpause,
        format!(
            "unpause {} µs within the grace (no thaw), {} µs after it (paused, thawed)",
            soon.phases_us.unpause, late.phases_us.unpause
        ),
    )?;
    let (ok, w) = w.stop(Duration::from_secs(60))?;
    check(ok, "exit 0")?;
    w.check_nothing_left()
}
