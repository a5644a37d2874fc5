//! Zygotes on real processes (SOCK §4.2): the executor's side of the fork
//! protocol spoken by `runtime/zygote.py` (the protocol is documented
//! there and in ARCHITECTURE.md).
//!
//! A Zygote is a Python interpreter that has imported a package set, living
//! in its own lean container ([`Executor::create_zygote`] for a fresh one,
//! or forked from a parent Zygote with
//! [`Role::Zygote`](crate::container::Role::Zygote)). To start a
//! container from it, the executor prepares the target (cgroup, bind
//! mounts, listening socket: create steps 1-7), opens the target's root,
//! cgroup.procs files and log, and sends them to the Zygote over
//! SCM_RIGHTS; the Zygote's child joins the target and becomes its first
//! process. It stays the Zygote's child (the Zygote reaps it; if the Zygote
//! dies first it is reparented to the executor, a child subreaper), and
//! [`Executor::destroy`] works as for any container: kill the init, then
//! cgroup-kill and wait until the cgroup is empty.
//!
//! Here: the protocol's messages, errors and reports, and `ping`;
//! `fork.rs` the fork exchange ([`Executor::fork_from`]), `spares.rs`
//! pre-forked children, `lines.rs` the bounded reply stream.

mod fork;
mod lines;
mod spares;

use lines::Lines;
pub use lines::MAX_LINE_BYTES;
pub(crate) use spares::reap_orphan;
pub use spares::{Spare, Spares};

use crate::cgroup::Cgroup;
use crate::container::{Container, CreateError, Executor};
use crate::sys::{fs, SysError};
use nix::fcntl::OFlag;
use serde::Deserialize;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
}

fn connect(zygote: &Container) -> Result<UnixStream, ForkError> {
    UnixStream::connect(&zygote.socket).map_err(|err| ForkError::Unreachable {
        path: zygote.socket.clone(),
        err,
    })
}

/// The fds a Zygote's child joins `cgroup` with: our PID namespace (the
/// Zygote shares it and returns to it after each handler fork; it cannot
/// open it itself: no /proc in its chroot) and the join file of each
/// hierarchy ([`crate::cgroup::CgroupBackend::join_files`]).
fn join_fds(exec: &Executor, cgroup: &Cgroup) -> Result<(OwnedFd, Vec<OwnedFd>), SysError> {
    let pidns = fs::open(Path::new("/proc/self/ns/pid"), OFlag::O_RDONLY)?;
    let procs = exec
        .backend()
        .join_files(cgroup)
        .iter()
        .map(|f| fs::open(f, OFlag::O_WRONLY))
        .collect::<Result<_, _>>()?;
    Ok((pidns, procs))
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
