//! Zygotes on real processes (SOCK §4.2): the executor's side of the fork
//! protocol spoken by `runtime/zygote.py` (the protocol is documented
//! there and in ARCHITECTURE.md).
//!
//! A Zygote is a Python interpreter that has imported a package set, living
//! in its own lean container ([`Executor::create_zygote`] for a fresh one,
//! or forked from a parent Zygote with [`Role::Zygote`]). To start a
//! container from it, the executor prepares the target (cgroup, bind
//! mounts, listening socket: create steps 1-7), opens the target's root,
//! cgroup.procs files and log, and sends them to the Zygote over
//! SCM_RIGHTS; the Zygote's child joins the target and becomes its first
//! process. It stays the Zygote's child (the Zygote reaps it; if the Zygote
//! dies first it is reparented to the executor, a child subreaper), and
//! [`Executor::destroy`] works as for any container: kill the init, then
//! cgroup-kill and wait until the cgroup is empty.

mod lines;
mod spares;

use lines::Lines;
pub use lines::MAX_LINE_BYTES;
pub(crate) use spares::reap_orphan;
pub use spares::{Spare, Spares};

use crate::container::{Container, ContainerSpec, CreateError, Executor, Prepared, Role};
use crate::sys::{clock, fs, SysError};
use nix::fcntl::OFlag;
use nix::unistd::Pid;
use serde::Deserialize;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum ForkError {
    #[error("preparing the target container: {0}")]
    Create(#[from] CreateError),
    #[error("the Zygote at {path} is unreachable (dead?): {err}")]
    Unreachable { path: PathBuf, err: std::io::Error },
    #[error("{0}")]
    Sys(#[from] SysError),
    #[error("reserving a cgroup for a spare: {0}")]
    SpareCgroup(crate::cgroup::CgroupError),
    #[error("talking to the Zygote: {0}")]
    Io(std::io::Error),
    #[error("the Zygote's child failed at {stage}: {error}")]
    Child { stage: String, error: String },
    #[error("the Zygote closed the connection before {0} (it crashed, or its child did){1}")]
    Closed(&'static str, String),
    #[error("no complete reply from the Zygote within {0:?}")]
    Timeout(Duration),
    #[error("a reply line from the Zygote is longer than {max} bytes")]
    LineTooLong { max: usize },
    #[error("bad reply from the Zygote: {0}")]
    Protocol(String),
}

/// One line of the Zygote's reply stream.
#[derive(Debug, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
enum Event {
    Pong {
        pid: i32,
        modules: Vec<String>,
        import_us: u64,
        #[serde(default)]
        spares: usize,
    },
    Forked {
        pid: i32,
        #[serde(default)]
        spare: bool,
    },
    Joined {
        #[serde(default)]
        t_ns: u64,
        #[serde(default)]
        steps: Vec<(String, u64)>,
    },
    Imported {
        import_us: u64,
        error: Option<String>,
        #[serde(default)]
        t0_ns: u64,
        #[serde(default)]
        t1_ns: u64,
    },
    Ready {
        #[serde(default)]
        load_error: Option<String>,
        #[serde(default)]
        t_ns: u64,
    },
    Spare {
        pid: i32,
        spares: usize,
    },
    Error {
        stage: String,
        error: String,
    },
}

/// What a Zygote reports about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZygoteInfo {
    /// Its pid in the executor's PID namespace.
    pub pid: i32,
    /// Modules it imported itself (not its ancestors').
    pub modules: Vec<String>,
    /// How long those imports took, as it measured them.
    pub import_us: u64,
    /// Pre-forked children waiting for a container.
    pub spares: usize,
}

/// Timings of one fork, measured on both sides. The `*_ns` fields are the
/// step boundaries in CLOCK_MONOTONIC ns ([`crate::sys::clock`]), read by
/// the executor (start, prepared, done) and by the child (joined,
/// imports, ready); `crate::measure` turns them into phases.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ForkReport {
    /// Served by a pre-forked child (no fork on the critical path).
    pub spare: bool,
    pub start_ns: u64,
    /// Create steps 1-7 done, the request about to be sent.
    pub prepared_ns: u64,
    /// The child is in the container, privileges dropped.
    pub joined_ns: u64,
    pub import_start_ns: u64,
    pub import_end_ns: u64,
    /// The child serves (handler loaded).
    pub ready_ns: u64,
    /// The executor saw the fork's end (EOF from both sides).
    pub done_ns: u64,
    /// The fork phase step by step: (step, when it ended), from the
    /// Zygote and its child (`request`, `forked`, `cgroup`, `namespaces`,
    /// `fds`, `chroot`, `privileges`; a spare: `handed`, `cgroup`, ...).
    pub steps: Vec<(String, u64)>,
    /// Create steps 1-7 for the target container (executor side).
    pub prepare: Duration,
    /// Request sent until the child has joined the container and dropped
    /// its privileges (the fork phase).
    pub join: Duration,
    /// The child's imports of what the Zygote lacked, measured in the child.
    pub import_us: u64,
    /// Request sent until the child serves.
    pub total: Duration,
    /// The import or handler-load error a handler will answer with (500).
    pub load_error: Option<String>,
}

/// How long the executor waits for a whole fork, ping or refill exchange
/// (one deadline for all its reply lines).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

impl Executor {
    /// Asks a Zygote who it is; waits until it serves (a fresh Zygote
    /// accepts only once its imports are done, so this is its readiness).
    pub fn ping(&self, zygote: &Container, timeout: Duration) -> Result<ZygoteInfo, ForkError> {
        let stream = connect(zygote)?;
        fs::send_with_fds(stream.as_fd(), b"{\"op\":\"ping\"}\n", &[])?;
        let mut lines = Lines::new(stream, timeout);
        match lines.next()? {
            Some(Event::Pong {
                pid,
                modules,
                import_us,
                spares,
            }) => Ok(ZygoteInfo {
                pid,
                modules,
                import_us,
                spares,
            }),
            Some(Event::Error { stage, error }) => Err(ForkError::Child { stage, error }),
            Some(other) => Err(ForkError::Protocol(format!("expected pong, got {other:?}"))),
            None => Err(ForkError::Closed("answering a ping", log_tail(zygote))),
        }
    }

    /// Forks `zygote` into a new lean container made for `spec`: the child
    /// imports `spec.imports` (what the Zygote lacks) and then serves as a
    /// handler (`Role::Handler`) or as a new Zygote (`Role::Zygote`).
    /// On any failure the target container is undone and the child killed.
    pub fn fork_from(
        &mut self,
        zygote: &Container,
        spec: &ContainerSpec,
        role: Role,
        timeout: Duration,
    ) -> Result<(Container, ForkReport), ForkError> {
        self.fork_with(zygote, spec, role, false, timeout)
    }

    /// [`Executor::fork_from`], asking for a pre-forked child (`spare`,
    /// handlers only) when the Zygote has one; the report says whether it
    /// did (a spare that was killed means a normal fork). The container
    /// is made in the cgroup the spare joined at refill time, so the hit
    /// pays no cgroup join (see `spares.rs`); a normal fork that replaces
    /// a spare found dead at the last moment joins that same cgroup.
    pub fn fork_with(
        &mut self,
        zygote: &Container,
        spec: &ContainerSpec,
        role: Role,
        spare: bool,
        timeout: Duration,
    ) -> Result<(Container, ForkReport), ForkError> {
        let start_ns = clock::monotonic_ns();
        let t0 = Instant::now();
        let spare = match (spare, role) {
            (true, Role::Handler) => self.take_spare(zygote.id),
            _ => None,
        };
        let spare_pid = spare.as_ref().map(|s| s.pid);
        let prep = self.prepare_in(spec, spare.map(|s| s.cgroup))?;
        let prepare = t0.elapsed();
        let mut child = None;
        let want = Want { role, spare_pid };
        let result = self.fork_prepared(zygote, &prep, spec, want, timeout, &mut child);
        match result {
            Ok(mut report) => {
                report.prepare = prepare;
                report.start_ns = start_ns;
                let pid = child.expect("a successful fork reports the child's pid");
                Ok((self.finish(prep, pid), report))
            }
            Err(e) => {
                if let Some(pid) = child {
                    // The Zygote's child, not ours: the Zygote reaps it, so
                    // its number may be reused; the cgroup kill in undo
                    // (which reaps what of ours was inside) takes it.
                    tracing::debug!(
                        pid = pid.as_raw(),
                        "a failed fork's child goes with its cgroup"
                    );
                }
                self.undo(prep.partial);
                Err(e)
            }
        }
    }

    fn fork_prepared(
        &self,
        zygote: &Container,
        prep: &Prepared,
        spec: &ContainerSpec,
        want: Want,
        timeout: Duration,
        child: &mut Option<Pid>,
    ) -> Result<ForkReport, ForkError> {
        let role = want.role;
        let cgroup = prep
            .partial
            .cgroup
            .as_ref()
            .ok_or_else(|| ForkError::Protocol("target has no cgroup".into()))?;
        let root = fs::open(&prep.partial.root, OFlag::O_RDONLY | OFlag::O_DIRECTORY)?;
        let null = fs::open(Path::new("/dev/null"), OFlag::O_RDWR)?;
        // The Zygote shares our PID namespace; it returns to it after each
        // handler fork (it cannot open it itself: no /proc in its chroot).
        let pidns = fs::open(Path::new("/proc/self/ns/pid"), OFlag::O_RDONLY)?;
        let procs: Vec<OwnedFd> = self
            .backend()
            .join_files(cgroup)
            .iter()
            .map(|f| fs::open(f, OFlag::O_WRONLY))
            .collect::<Result<_, _>>()?;
        let mut fds: Vec<RawFd> = vec![
            root.as_raw_fd(),
            prep.listener.as_raw_fd(),
            prep.output.as_raw_fd(),
            null.as_raw_fd(),
            pidns.as_raw_fd(),
        ];
        fds.extend(procs.iter().map(|f| f.as_raw_fd()));
        let request = serde_json::json!({
            "op": "fork",
            "role": role.as_str(),
            "imports": spec.imports,
            "pythonpath": prep.pythonpath,
            "uid": self.config.uid,
            "gid": self.config.gid,
            "spare": want.spare_pid.is_some(),
            "spare_pid": want.spare_pid.map(Pid::as_raw),
        });
        let line = format!("{request}\n");

        let mut report = ForkReport {
            prepared_ns: clock::monotonic_ns(),
            ..ForkReport::default()
        };
        let stream = connect(zygote)?;
        let t0 = Instant::now();
        fs::send_with_fds(stream.as_fd(), line.as_bytes(), &fds)?;
        drop((root, null, pidns, procs));
        let mut lines = Lines::new(stream, timeout);
        // The pid (from the Zygote) and the child's own events come from two
        // processes, so "forked" may arrive after "joined"; the child's
        // events are in order.
        let stages = ["joining", "importing", "serving"];
        let mut stage = 0;
        loop {
            let Some(event) = lines.next()? else {
                let what = if child.is_none() {
                    "the fork"
                } else {
                    stages[stage.min(2)]
                };
                return Err(ForkError::Closed(what, log_tail(zygote)));
            };
            match event {
                Event::Forked { pid, spare } if child.is_none() => {
                    let pid = Pid::from_raw(pid);
                    *child = Some(pid);
                    if spare && want.spare_pid != Some(pid) {
                        return Err(ForkError::Protocol(format!(
                            "asked for spare {:?}, the Zygote handed the fork to {pid}",
                            want.spare_pid
                        )));
                    }
                    report.spare = spare;
                }
                Event::Joined { t_ns, steps } if stage == 0 => {
                    report.join = t0.elapsed();
                    report.joined_ns = t_ns;
                    report.steps = steps;
                    stage = 1;
                }
                Event::Imported {
                    import_us,
                    error,
                    t0_ns,
                    t1_ns,
                } if stage == 1 => {
                    report.import_us = import_us;
                    report.load_error = error;
                    report.import_start_ns = t0_ns;
                    report.import_end_ns = t1_ns;
                    stage = 2;
                }
                Event::Ready { load_error, t_ns } if stage == 2 => {
                    report.total = t0.elapsed();
                    report.ready_ns = t_ns;
                    if report.load_error.is_none() {
                        report.load_error = load_error;
                    }
                    stage = 3;
                }
                Event::Error { stage, error } => return Err(ForkError::Child { stage, error }),
                other => {
                    return Err(ForkError::Protocol(format!(
                        "unexpected {other:?} while waiting for {}",
                        stages[stage.min(2)]
                    )))
                }
            }
            if stage == 3 && child.is_some() {
                // EOF: both the Zygote and the child have let go of the
                // connection; the fork is over on both sides.
                return match lines.next()? {
                    None => {
                        report.done_ns = clock::monotonic_ns();
                        Ok(report)
                    }
                    Some(extra) => Err(ForkError::Protocol(format!(
                        "unexpected {extra:?} after ready"
                    ))),
                };
            }
        }
    }
}

/// What a fork request asks for.
#[derive(Clone, Copy, Debug)]
struct Want {
    role: Role,
    /// The spare to hand the fork to (handlers only): the one whose cgroup
    /// the target container was made in.
    spare_pid: Option<Pid>,
}

fn connect(zygote: &Container) -> Result<UnixStream, ForkError> {
    UnixStream::connect(&zygote.socket).map_err(|err| ForkError::Unreachable {
        path: zygote.socket.clone(),
        err,
    })
}

/// The last lines of a Zygote's log, to explain why it went away.
fn log_tail(zygote: &Container) -> String {
    let text = std::fs::read_to_string(zygote.scratch.join("output.log")).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(5)..].join(" | ");
    if tail.is_empty() {
        String::new()
    } else {
        format!("; its log ends: {tail}")
    }
}
