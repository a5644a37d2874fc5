//! Lean containers (SOCK §4.1): a root stitched from bind mounts, entered
//! with `chroot`, new IPC/UTS/PID namespaces (no network or mount
//! namespace), a cgroup from a pre-created pool, and HTTP over a Unix
//! socket. One operation per file:
//!
//! - [`Executor::new`] (this file) + `lock.rs` + `recover.rs`: the state
//!   folder's lock, crash cleanup of the executor's own prefix, cgroup pool;
//! - `create.rs`: the setup steps, in order (mirrored in ARCHITECTURE.md);
//! - `spawn.rs`: fork, namespaces, chroot, privilege drop, exec;
//! - `invoke.rs`: one HTTP request over the container's socket;
//! - `destroy.rs`: kill, unmount, return the cgroup; pause/resume here;
//! - `teardown.rs`: the asynchronous destroy (kill now, the rest queued).

mod blank;
mod create;
mod destroy;
mod invoke;
mod lock;
mod pending;
mod recover;
mod spawn;
mod teardown;

pub(crate) use create::Prepared;
pub use create::{CreateError, CreateSteps};
pub use invoke::{InvokeError, Response, MAX_BODY_BYTES, MAX_HEAD_BYTES};
pub use lock::StateLock;
pub use pending::Pending;
pub use recover::{mounts_below, Recovery};
pub use spawn::Role;

use crate::cgroup::{Cgroup, CgroupBackend, CgroupError, CgroupPool, Limits};
use crate::sys::{self, SysError};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where and how containers are made.
#[derive(Clone, Debug)]
pub struct ExecutorConfig {
    /// Holds `lock` (one executor per state folder) and
    /// `containers/<cgroup_prefix>/`: one folder per live container.
    pub state_dir: PathBuf,
    /// The base image root (see [`crate::base`]).
    pub base_root: PathBuf,
    /// cgroup path (relative to each hierarchy root) of the pool; also
    /// names this executor's containers folder. Recovery touches only
    /// what is below it.
    pub cgroup_prefix: PathBuf,
    /// Cgroups made (and joined once, warm) before the first create: the
    /// expected concurrency plus the teardowns that may be pending.
    pub pool_size: usize,
    /// Asynchronous destroys queued before the oldest is waited for.
    pub max_pending_teardowns: usize,
    /// Prepared roots kept ready (`blank.rs`): container folders with the
    /// image and scratch mounted and the socket listening, made at idle
    /// points ([`Executor::collect_teardowns`]), so a create mounts only
    /// its handler and packages on the critical path. 0: none.
    pub prepared_roots: usize,
    pub limits: Limits,
    /// The unprivileged identity handlers run as (default: nobody).
    pub uid: u32,
    pub gid: u32,
    /// Interpreter inside the image, and its flags (`-S`: no site import,
    /// `-E`: ignore PYTHON* variables, `-B`: no .pyc writes on a read-only root).
    pub python: String,
    pub python_flags: Vec<String>,
}

impl ExecutorConfig {
    pub fn new(state_dir: PathBuf, base_root: PathBuf) -> ExecutorConfig {
        ExecutorConfig {
            state_dir,
            base_root,
            cgroup_prefix: PathBuf::from("sock-exec"),
            pool_size: 8,
            max_pending_teardowns: 4,
            prepared_roots: 2,
            limits: Limits::default(),
            uid: 65534,
            gid: 65534,
            python: "/usr/bin/python3".into(),
            python_flags: vec!["-S".into(), "-E".into(), "-B".into()],
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    #[error("the base image {0} has no /sock/runtime.py; run `sock-exec base` first")]
    NoBase(PathBuf),
    #[error("preparing the state dir: {0}")]
    State(#[from] SysError),
    #[error("state dir {path}: {err}")]
    Io { path: PathBuf, err: std::io::Error },
    #[error("cgroups: {0}")]
    Cgroup(#[from] CgroupError),
    #[error("container {id}: {source}")]
    Destroy { id: u64, source: Box<ExecutorError> },
    #[error(
        "state folder {} is in use by another executor (pid {holder}); one executor per \
         state folder: wait for it to finish, or pass another --state", state.display()
    )]
    Locked { state: PathBuf, holder: String },
    #[error("cgroup prefix {0:?} must be a relative path without `..`")]
    Prefix(PathBuf),
}

/// What a container runs: its handler folder, packages and imports.
#[derive(Clone, Debug, Default)]
pub struct ContainerSpec {
    /// Folder holding `f.py`, bind-mounted read-only at `/handler`; empty
    /// for a Zygote's container.
    pub handler_dir: PathBuf,
    /// (`name==version`, installed folder), each bind-mounted read-only
    /// at `/packages/<name==version>` and put on the handler's sys.path.
    pub packages: Vec<(String, PathBuf)>,
    /// Modules the first process imports before it serves (timed; the
    /// import phase). A fresh handler imports them itself, a Zygote before
    /// it accepts fork requests.
    pub imports: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Running,
    Paused,
    /// Its processes died (timeout kill, OOM, crash); only destroy is left.
    Dead,
}

/// A live lean container.
#[derive(Debug)]
pub struct Container {
    pub id: u64,
    pub dir: PathBuf,
    pub root: PathBuf,
    pub scratch: PathBuf,
    pub socket: PathBuf,
    /// Host pid of the container's init (PID 1 inside).
    pub init: Pid,
    pub cgroup: Cgroup,
    pub state: State,
    /// Mount points in the order they were made (unmounted in reverse).
    mounts: Vec<PathBuf>,
}

/// Makes, runs and destroys lean containers. Single-threaded by design:
/// it forks, so it must never share its process with other threads.
///
/// Dropped without [`Executor::shutdown`] (an error path, a signal), it
/// still tears down everything of its prefix: it kills what runs in its
/// cgroups, unmounts and deletes its containers, removes the cgroups.
#[derive(Debug)]
pub struct Executor {
    pub config: ExecutorConfig,
    pool: CgroupPool,
    /// Each Zygote's pre-forked children and the cgroups they joined.
    pub(crate) spares: crate::zygote::Spares,
    /// Destroyed containers whose teardown is not complete (`teardown.rs`).
    teardowns: teardown::Teardowns,
    /// Prepared roots ready for a create (`blank.rs`).
    blanks: blank::Blanks,
    /// The last fresh create's step times.
    pub last_create: CreateSteps,
    containers_dir: PathBuf,
    next_id: u64,
    /// What the start-up cleanup found (left by a crashed run).
    pub recovered: Recovery,
    /// Set once torn down (by `shutdown` or `drop`).
    closed: bool,
    /// The process that made it: a forked child that returns (instead of
    /// exiting at once) must never tear down its parent's containers.
    owner: u32,
    /// Held for the executor's life; declared last so it is released last.
    _lock: StateLock,
}

impl Executor {
    /// Step 0 of every run: become a subreaper, clean what a crashed run
    /// left, make the containers folder a private mount, fill the pool.
    pub fn new(config: ExecutorConfig) -> Result<Executor, ExecutorError> {
        if !config.base_root.join("sock/runtime.py").exists() {
            return Err(ExecutorError::NoBase(config.base_root.clone()));
        }
        crate::base::install_runtime(&config.base_root).map_err(|e| ExecutorError::Io {
            path: config.base_root.clone(),
            err: std::io::Error::other(e.to_string()),
        })?;
        let prefix = &config.cgroup_prefix;
        if prefix.as_os_str().is_empty()
            || !prefix
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)))
        {
            return Err(ExecutorError::Prefix(prefix.clone()));
        }
        // Before recovery: a live executor's containers must never be
        // recovered (wiped) by a second one.
        let lock = StateLock::acquire(&config.state_dir)?;
        sys::process::set_child_subreaper()?;
        let backend = CgroupBackend::host()?;
        let containers_dir = containers_dir(&config);
        let recovered = recover::recover(&containers_dir, &backend, &config.cgroup_prefix)?;
        std::fs::create_dir_all(&containers_dir).map_err(|err| ExecutorError::Io {
            path: containers_dir.clone(),
            err,
        })?;
        sys::mount::make_private_mountpoint(&containers_dir)?;
        let pool = CgroupPool::new(
            backend,
            &config.cgroup_prefix,
            config.pool_size,
            config.limits,
        )?;
        if recovered.found_anything() {
            tracing::warn!(?recovered, "cleaned up after a previous run");
        }
        Ok(Executor {
            config,
            pool,
            spares: crate::zygote::Spares::default(),
            teardowns: teardown::Teardowns::default(),
            blanks: blank::Blanks::default(),
            last_create: CreateSteps::default(),
            containers_dir,
            next_id: 0,
            recovered,
            closed: false,
            owner: std::process::id(),
            _lock: lock,
        })
    }

    pub fn backend(&self) -> &CgroupBackend {
        self.pool.backend()
    }

    pub fn containers_dir(&self) -> &Path {
        &self.containers_dir
    }

    /// The cgroup pool's (size, free): cgroups made, and those neither in a
    /// container nor reserved by a spare (for leak checks).
    pub fn pool_counts(&self) -> (usize, usize) {
        (self.pool.size(), self.pool.free())
    }

    /// Freezes a container's cgroup (SOCK's handler cache keeps idle
    /// handlers paused this way).
    pub fn pause(&self, c: &mut Container) -> Result<(), ExecutorError> {
        self.backend().freeze(&c.cgroup)?;
        c.state = State::Paused;
        Ok(())
    }

    pub fn resume(&self, c: &mut Container) -> Result<(), ExecutorError> {
        self.backend().thaw(&c.cgroup)?;
        c.state = State::Running;
        Ok(())
    }

    /// Tears everything down: the queued teardowns, the pool's cgroups and
    /// the private mount. If a step fails, the error is returned and `drop`
    /// still sweeps the prefix.
    pub fn shutdown(mut self) -> Result<(), ExecutorError> {
        let inside = self.processes_inside();
        let drained = self.drain_teardowns();
        self.discard_blanks();
        // Spares' cgroups are pool cgroups: destroying the pool kills them.
        // A spare whose Zygote died in the same sweep is reparented to us
        // after its own cgroup's wait has passed: reap each one here.
        let spares = self.spares.clear();
        let destroyed = self.pool.destroy();
        for pid in spares {
            crate::zygote::reap_orphan(pid);
        }
        reap_reparented(&inside);
        drained?;
        destroyed?;
        sys::mount::unmount(&self.containers_dir, true)?;
        self.closed = true;
        Ok(())
    }
}

/// `<state>/containers/<cgroup prefix>`: the containers of one prefix.
fn containers_dir(config: &ExecutorConfig) -> PathBuf {
    config
        .state_dir
        .join("containers")
        .join(&config.cgroup_prefix)
}

impl Drop for Executor {
    /// The teardown of every exit path that skipped `shutdown`: the same
    /// sweep as crash recovery, over this executor's prefix only (its
    /// cgroups, killed and removed; its mounts, the private one included;
    /// its container folders). Failures are logged: drop cannot return them.
    fn drop(&mut self) {
        if self.closed || self.owner != std::process::id() {
            return;
        }
        self.closed = true;
        let inside = self.processes_inside();
        if let Err(e) = self.drain_teardowns() {
            tracing::error!(error = %e, "completing queued teardowns of a dropped executor failed");
        }
        match recover::recover(
            &self.containers_dir,
            self.pool.backend(),
            &self.config.cgroup_prefix,
        ) {
            Ok(swept) if swept.found_anything() || swept.mounts > 0 => {
                tracing::warn!(?swept, prefix = %self.config.cgroup_prefix.display(), "executor dropped without shutdown: tore down what was left")
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, prefix = %self.config.cgroup_prefix.display(), "tearing down a dropped executor failed")
            }
        }
        reap_reparented(&inside);
    }
}

impl Executor {
    /// Every process in this executor's cgroups now, before a teardown
    /// kills them (see [`reap_reparented`]).
    fn processes_inside(&self) -> Vec<Pid> {
        let backend = self.pool.backend();
        backend
            .list_below(&self.config.cgroup_prefix)
            .iter()
            .flat_map(|cg| backend.procs(cg).unwrap_or_default())
            .collect()
    }
}

/// After the executor's last teardown: a container forked from a Zygote
/// has an init that is the Zygote's child, not ours, so its cgroup's kill
/// cannot reap it; when the Zygote itself dies later in the same sweep,
/// the zombie is reparented to us (a child subreaper) and nothing else
/// would reap it (issue 9: the reparented-child leak). Each of `pids` is
/// waited for briefly: reaped here if it is now our child, else gone with
/// its own parent.
fn reap_reparented(pids: &[Pid]) {
    for &pid in pids {
        if !sys::process::reap_when_dead(pid, Duration::from_millis(200)) {
            tracing::warn!(
                pid = pid.as_raw(),
                "a process of a torn-down container was not reaped"
            );
        }
    }
}
