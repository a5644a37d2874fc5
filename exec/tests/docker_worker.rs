//! `sock-exec docker-worker` (the Docker baseline of issue 13's worker)
//! and the in-process floor server, driven over real HTTP on loopback.
//!
//! The Docker cases need root, a reachable Docker engine and the base
//! image; they skip loudly without them, and fail instead when
//! `SOCK_REQUIRE_BASELINES=1` (CI). Offline: the functions have no
//! requirements. The floor case needs only /usr/bin/python3.

use sock_exec::baseline::{docker, docker_worker, Probe};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The base image (`SOCK_EXEC_BASE`, else the default state's).
fn base_root() -> PathBuf {
    std::env::var_os("SOCK_EXEC_BASE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/lib/sock-exec/base/root"))
}

/// Why the Docker cases cannot run here, if they cannot.
fn docker_missing() -> Option<String> {
    if !sock_exec::sys::process::is_root() {
        return Some("needs root".into());
    }
    if !base_root().join("usr/bin/python3").exists() {
        return Some(format!(
            "no base image at {} (run `sock-exec base`)",
            base_root().display()
        ));
    }
    match docker::detect() {
        Probe::Ready(_) => None,
        Probe::Skipped { reason } => Some(format!("docker: {reason}")),
    }
}

/// True when the Docker cases should run; panics when they cannot but CI
/// requires them.
fn docker_ready(case: &str) -> bool {
    let Some(why) = docker_missing() else {
        return true;
    };
    if std::env::var("SOCK_REQUIRE_BASELINES").as_deref() == Ok("1") {
        panic!("{case}: {why}, and SOCK_REQUIRE_BASELINES=1 (CI) forbids skipping");
    }
    eprintln!("\n!!! SKIPPED: {case}: {why} !!!\n");
    false
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, text).expect("write");
}

/// hello, boom (raises) and sleepy (outlives the timeout).
fn registry(dir: &Path) -> PathBuf {
    let root = dir.join("registry");
    write(
        &root,
        "hello/f.py",
        "def f(event):\n    return {'hello': 'world', 'event': event}\n",
    );
    write(
        &root,
        "boom/f.py",
        "def f(event):\n    raise ValueError('boom')\n",
    );
    write(
        &root,
        "sleepy/f.py",
        "import time\n\ndef f(event):\n    time.sleep(30)\n    return 1\n",
    );
    root
}

/// One HTTP exchange (`Connection: close`): status, headers, body.
fn http(port: u16, method: &str, path: &str, body: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("send");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status");
    (status, head.to_string(), body.to_string())
}

fn sock_path(head: &str) -> &str {
    head.lines()
        .find_map(|l| l.strip_prefix("X-Sock-Path: "))
        .unwrap_or("")
}

/// A running server process, stopped with SIGTERM when dropped.
struct Server {
    child: Child,
    port: u16,
    /// The docker worker's instance id (its containers' label value).
    instance: String,
}

impl Server {
    /// Starts `cmd` and waits for its "listening on http://HOST:PORT" line.
    fn start(mut cmd: Command) -> Server {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn");
        let mut line = String::new();
        let out = child.stdout.take().expect("stdout");
        BufReader::new(out).read_line(&mut line).expect("a line");
        let port = line
            .split("http://")
            .nth(1)
            .and_then(|a| a.split([' ', '\n']).next())
            .and_then(|a| a.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"));
        let instance = line
            .split("(instance ")
            .nth(1)
            .and_then(|r| r.split(',').next())
            .unwrap_or("")
            .to_string();
        Server {
            child,
            port,
            instance,
        }
    }

    /// SIGTERM, then the exit status (killed after 60 s).
    fn stop(&mut self) -> std::process::ExitStatus {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let start = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                return s;
            }
            if start.elapsed() > Duration::from_secs(60) {
                let _ = self.child.kill();
                return self.child.wait().expect("wait");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.stop();
        }
        if !self.instance.is_empty() {
            docker_worker::remove_labelled(&self.instance);
        }
    }
}

fn docker_worker(registry: &Path, extra: &[&str]) -> Server {
    let state = base_root()
        .parent()
        .and_then(Path::parent)
        .expect("state folder")
        .to_path_buf();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sock-exec"));
    cmd.arg("--state")
        .arg(state)
        .args(["docker-worker", "--port", "0", "--registry"])
        .arg(registry)
        .args(extra);
    let s = Server::start(cmd);
    assert!(!s.instance.is_empty(), "no instance id printed");
    s
}

/// Names of the containers carrying the worker's label.
fn containers_of(instance: &str) -> Vec<String> {
    let filter = format!("label={}={instance}", docker_worker::container::LABEL);
    let out = Command::new("docker")
        .args(["ps", "-a", "--format", "{{.Names}}", "--filter", &filter])
        .output()
        .expect("docker ps");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(String::from)
        .collect()
}

fn stop_leaves_nothing(mut s: Server) {
    let status = s.stop();
    assert!(status.success(), "worker exit status {status}");
    assert_eq!(containers_of(&s.instance), Vec::<String>::new());
}

#[test]
fn docker_worker_serves_the_api_warm_and_cleans_up() {
    if !docker_ready("docker_worker_serves_the_api_warm_and_cleans_up") {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let reg = registry(dir.path());
    let s = docker_worker(&reg, &["--timeout-s", "3"]);
    let p = s.port;
    let (status, head, body) = http(p, "POST", "/run/hello", r#"{"a": 1}"#);
    assert_eq!(status, 200, "{body}");
    assert_eq!(sock_path(&head), "docker_cold", "{head}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v, serde_json::json!({"hello": "world", "event": {"a": 1}}));
    let (status, head, _) = http(p, "POST", "/run/hello", "{}");
    assert_eq!((status, sock_path(&head)), (200, "docker_warm"), "{head}");

    let (status, _, body) = http(p, "POST", "/run/boom", "{}");
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("ValueError: boom"), "{body}");
    let (status, _, body) = http(p, "POST", "/run/nope", "{}");
    assert_eq!(status, 404, "{body}");
    let (status, _, body) = http(p, "POST", "/run/hello", "{not json");
    assert_eq!(status, 400, "{body}");
    let (status, _, body) = http(p, "POST", "/run/sleepy", "{}");
    assert_eq!(status, 504, "{body}");

    let (status, _, body) = http(p, "GET", "/stats", "");
    assert_eq!(status, 200);
    let stats: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        stats["functions"]["hello"]["cold"].as_u64(),
        Some(1),
        "{body}"
    );
    assert_eq!(
        stats["functions"]["hello"]["warm"].as_u64(),
        Some(1),
        "{body}"
    );
    let (status, _, body) = http(p, "GET", "/status", "");
    assert!(status == 200 && body.contains("hello"), "{body}");
    assert!(
        !containers_of(&s.instance).is_empty(),
        "warm containers are kept while the worker runs"
    );
    stop_leaves_nothing(s);
}

#[test]
fn docker_worker_pauses_idle_and_runs_per_call_containers() {
    if !docker_ready("docker_worker_pauses_idle_and_runs_per_call_containers") {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let reg = registry(dir.path());

    let s = docker_worker(&reg, &["--pause-idle"]);
    let (status, head, _) = http(s.port, "POST", "/run/hello", "{}");
    assert_eq!((status, sock_path(&head)), (200, "docker_cold"));
    // The pause follows the response: wait for it.
    let start = Instant::now();
    let paused = loop {
        let names = containers_of(&s.instance);
        let out = Command::new("docker")
            .args(["inspect", "-f", "{{.State.Paused}}"])
            .args(&names)
            .output()
            .expect("inspect");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        if text.trim() == "true" || start.elapsed() > Duration::from_secs(20) {
            break text;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(paused.trim(), "true", "the idle container is paused");
    let (status, head, body) = http(s.port, "POST", "/run/hello", "{}");
    assert_eq!((status, sock_path(&head)), (200, "docker_warm"), "{body}");
    stop_leaves_nothing(s);

    let s = docker_worker(&reg, &["--warm-pool", "0"]);
    for _ in 0..2 {
        let (status, head, body) = http(s.port, "POST", "/run/hello", "{}");
        assert_eq!((status, sock_path(&head)), (200, "docker_cold"), "{body}");
    }
    stop_leaves_nothing(s);
}

#[test]
fn floor_server_serves_the_same_api_in_process() {
    let python = Path::new("/usr/bin/python3");
    if !python.exists() {
        eprintln!("\n!!! SKIPPED: floor server: no /usr/bin/python3 !!!\n");
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let reg = registry(dir.path());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/floor_server.py");
    let mut cmd = Command::new(python);
    cmd.arg(script)
        .args(["--port", "0", "--registry"])
        .arg(&reg);
    let mut s = Server::start(cmd);
    let (status, head, body) = http(s.port, "POST", "/run/hello", r#"{"a": 1}"#);
    assert_eq!((status, sock_path(&head)), (200, "in_process"), "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v, serde_json::json!({"hello": "world", "event": {"a": 1}}));
    let (status, _, body) = http(s.port, "POST", "/run/boom", "{}");
    assert!(status == 500 && body.contains("ValueError: boom"), "{body}");
    assert_eq!(http(s.port, "POST", "/run/nope", "{}").0, 404);
    assert_eq!(http(s.port, "POST", "/run/hello", "{x").0, 400);
    assert_eq!(http(s.port, "GET", "/status", "").0, 200);
    s.stop();
}

#[test]
fn a_killed_workers_containers_are_removed_by_the_next_worker() {
    if !docker_ready("a_killed_workers_containers_are_removed_by_the_next_worker") {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let reg = registry(dir.path());
    let mut s = docker_worker(&reg, &[]);
    assert_eq!(http(s.port, "POST", "/run/hello", "{}").0, 200);
    s.child.kill().expect("SIGKILL");
    s.child.wait().expect("wait");
    let dead = s.instance.clone();
    assert!(
        !containers_of(&dead).is_empty(),
        "SIGKILL leaves its container"
    );
    let next = docker_worker(&reg, &[]);
    assert_eq!(containers_of(&dead), Vec::<String>::new());
    stop_leaves_nothing(next);
}
