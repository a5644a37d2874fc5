//! One function container of the Docker worker: started with `docker run
//! -d`, called over a Unix socket in a host folder bind-mounted into it
//! (the container has no network), paused and unpaused with `docker
//! pause`/`unpause`, removed with `docker rm -f`.
//!
//! Why a Unix socket rather than `docker exec -i` per call: an exec goes
//! through dockerd and containerd and starts a process in the container
//! (measured on the 2-core dev host: `docker exec C /bin/true` 73 ms
//! median, `docker exec -i C python3 -c <json echo>` 154 ms), while a call
//! over the socket is one write and one read between two processes on
//! this host (the worker's warm call median for hello: 0.05-0.1 ms), so
//! the warm path measures Docker's design (a long-lived process per
//! container), not the CLI. The socket stays connected for the
//! container's life; stdin/stdout of `docker run -i` would be as fast but
//! ties the container's life to a CLI process per container.
//! `docker pause` and `unpause` cost ~45 ms each through the CLI.

use crate::baseline::{last_line, render, run_captured, BaselineError};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The label every container of one worker carries (value: the worker's
/// instance id), so shutdown finds them all (`docker ps --filter label=`).
pub const LABEL: &str = "sock-exec.docker-worker";

/// Where things are mounted inside a container.
const HANDLER: &str = "/handler";
const RUNTIME: &str = "/sock-rt";
const IO: &str = "/sock-io";

/// What to start a function's container from.
#[derive(Clone, Debug)]
pub struct Launch {
    pub image: String,
    /// The worker's instance id (the [`LABEL`]'s value).
    pub instance: String,
    /// Folder holding `server.py` (mounted read-only).
    pub runtime_dir: PathBuf,
    /// The function's folder (mounted read-only).
    pub function_dir: PathBuf,
    /// Installed package folders, put on PYTHONPATH in this order.
    pub packages: Vec<PathBuf>,
    /// Exit after one call (`--rm`): the per-call container.
    pub oneshot: bool,
}

/// Why a call did not give the handler's answer.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("docker: {0}")]
    Docker(#[from] BaselineError),
    #[error("the container's server did not listen on {path} within {waited:?}")]
    NotReady { path: PathBuf, waited: Duration },
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("talking to the container's server: {0}")]
    Io(std::io::Error),
    #[error("the container's server answered garbage: {0}")]
    Garbage(String),
    /// The event could not even be sent (an idle container that died,
    /// or would not unpause): the call never started, so a fresh
    /// container may serve it.
    #[error("the container is gone: {0}")]
    Stale(String),
}

impl CallError {
    /// Whether the call ran out of time (answered 504): no answer, a
    /// server that did not listen in time, or a docker command killed at
    /// the deadline.
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            CallError::Timeout(_)
                | CallError::NotReady { .. }
                | CallError::Docker(BaselineError::Timeout { .. })
        )
    }
}

/// What a call gave: the handler's JSON, or its error (a 500).
#[derive(Debug, PartialEq)]
pub enum Answer {
    Ok(serde_json::Value),
    HandlerError(String),
}

/// A running (or paused) function container and its connection.
#[derive(Debug)]
pub struct Container {
    pub name: String,
    io_dir: PathBuf,
    conn: BufReader<UnixStream>,
    pub paused: bool,
    /// When it last went back to the pool (the pause grace counts from here).
    pub idle_since: Option<Instant>,
}

/// Runs a docker CLI command to completion within `timeout`; a non-zero
/// exit is an error with its last stderr line.
pub fn docker(args: &[&str], timeout: Duration) -> Result<String, BaselineError> {
    let mut cmd = Command::new("docker");
    cmd.args(args);
    let f = run_captured(&mut cmd, timeout)?;
    if !f.success {
        return Err(BaselineError::Failed {
            cmd: render(&cmd),
            status: f.status,
            stderr: last_line(&f.stderr),
        });
    }
    Ok(f.stdout)
}

fn mount(src: &Path, dst: &str, ro: bool) -> String {
    format!(
        "type=bind,source={},target={dst}{}",
        src.display(),
        if ro { ",readonly" } else { "" }
    )
}

impl Container {
    /// `docker run -d` a container named `name` whose server listens in
    /// `io_dir` (created, emptied), then connects to it, all by `deadline`.
    pub fn start(
        launch: &Launch,
        name: &str,
        io_dir: &Path,
        deadline: Instant,
    ) -> Result<Container, CallError> {
        let _ = std::fs::remove_dir_all(io_dir);
        std::fs::create_dir_all(io_dir).map_err(CallError::Io)?;
        let label = format!("{LABEL}={}", launch.instance);
        let mut args: Vec<String> = ["run", "-d", "--network", "none", "--name", name]
            .iter()
            .map(|s| s.to_string())
            .collect();
        if launch.oneshot {
            args.push("--rm".into());
        }
        args.extend(["--label".into(), label]);
        let mut mounts = vec![
            mount(&launch.function_dir, HANDLER, true),
            mount(&launch.runtime_dir, RUNTIME, true),
            mount(io_dir, IO, false),
        ];
        let mut path = Vec::new();
        for (i, p) in launch.packages.iter().enumerate() {
            let dst = format!("/pkgs/{i}");
            mounts.push(mount(p, &dst, true));
            path.push(dst);
        }
        for m in mounts {
            args.extend(["--mount".into(), m]);
        }
        args.extend(["-e".into(), format!("PYTHONPATH={}", path.join(":"))]);
        args.extend(["-e".into(), "PYTHONDONTWRITEBYTECODE=1".into()]);
        if launch.oneshot {
            args.extend(["-e".into(), "SOCK_ONESHOT=1".into()]);
        }
        args.extend([
            launch.image.clone(),
            "/usr/bin/python3".into(),
            "-u".into(),
            format!("{RUNTIME}/server.py"),
        ]);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        docker(&argv, left(deadline))?;
        let conn = connect(&io_dir.join("s.sock"), deadline)?;
        Ok(Container {
            name: name.to_string(),
            io_dir: io_dir.to_path_buf(),
            conn: BufReader::new(conn),
            paused: false,
            idle_since: None,
        })
    }

    /// Sends `event` and waits for the answer until `deadline`.
    pub fn call(
        &mut self,
        event: &serde_json::Value,
        deadline: Instant,
    ) -> Result<Answer, CallError> {
        if self.paused {
            self.unpause(deadline)
                .map_err(|e| CallError::Stale(e.to_string()))?;
        }
        let mut line = serde_json::json!({ "event": event }).to_string();
        line.push('\n');
        let timeout = left(deadline);
        let stream = self.conn.get_mut();
        stream
            .set_write_timeout(Some(timeout))
            .map_err(CallError::Io)?;
        stream
            .write_all(line.as_bytes())
            .map_err(|e| match e.kind() {
                // The server exited: the peer of a Unix socket is gone.
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset => {
                    CallError::Stale(e.to_string())
                }
                _ => io_or_timeout(e, timeout),
            })?;
        self.conn
            .get_ref()
            .set_read_timeout(Some(left(deadline)))
            .map_err(CallError::Io)?;
        let mut reply = String::new();
        let n = self
            .conn
            .read_line(&mut reply)
            .map_err(|e| io_or_timeout(e, timeout))?;
        if n == 0 {
            return Err(CallError::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        let v: serde_json::Value =
            serde_json::from_str(&reply).map_err(|e| CallError::Garbage(e.to_string()))?;
        match v {
            serde_json::Value::Object(mut m) => {
                if let Some(ok) = m.remove("ok") {
                    Ok(Answer::Ok(ok))
                } else if let Some(serde_json::Value::String(e)) = m.remove("error") {
                    Ok(Answer::HandlerError(e))
                } else {
                    Err(CallError::Garbage(reply.trim().to_string()))
                }
            }
            _ => Err(CallError::Garbage(reply.trim().to_string())),
        }
    }

    /// `docker pause` (the cgroup freezer): OpenWhisk's idle state.
    pub fn pause(&mut self, timeout: Duration) -> Result<(), CallError> {
        docker(&["pause", &self.name], timeout)?;
        self.paused = true;
        Ok(())
    }

    pub fn unpause(&mut self, deadline: Instant) -> Result<(), CallError> {
        docker(&["unpause", &self.name], left(deadline))?;
        self.paused = false;
        Ok(())
    }

    /// `docker rm -f` (works on paused containers too) and the io folder.
    /// A one-shot container that already removed itself is no error.
    pub fn remove(self) -> Result<(), CallError> {
        let Container { name, io_dir, .. } = self;
        let res = remove_by_name(&name);
        let _ = std::fs::remove_dir_all(&io_dir);
        res
    }

    /// Forgets a one-shot container (it exits and `--rm` removes it);
    /// only its io folder is removed here.
    pub fn release(self) {
        let _ = std::fs::remove_dir_all(&self.io_dir);
    }
}

/// `docker rm -f NAME`, "no such container" being success.
pub fn remove_by_name(name: &str) -> Result<(), CallError> {
    match docker(&["rm", "-f", name], Duration::from_secs(60)) {
        Err(BaselineError::Failed { stderr, .. }) if stderr.contains("No such container") => Ok(()),
        other => other.map(|_| ()).map_err(CallError::from),
    }
}

fn left(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1))
}

fn io_or_timeout(e: std::io::Error, timeout: Duration) -> CallError {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            CallError::Timeout(timeout)
        }
        _ => CallError::Io(e),
    }
}

/// Connects to the server's socket, retrying while it is not listening
/// yet (no file, or bound but not listening), until `deadline`.
fn connect(path: &Path, deadline: Instant) -> Result<UnixStream, CallError> {
    let start = Instant::now();
    loop {
        match UnixStream::connect(path) {
            Ok(s) => return Ok(s),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                ) =>
            {
                if Instant::now() >= deadline {
                    return Err(CallError::NotReady {
                        path: path.to_path_buf(),
                        waited: start.elapsed(),
                    });
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => return Err(CallError::Io(e)),
        }
    }
}
