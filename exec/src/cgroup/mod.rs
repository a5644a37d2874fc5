//! cgroups for lean containers: v1 and v2 backends in one closed enum,
//! chosen from the mount table (never from hard-coded controller names),
//! and a pool of pre-created cgroups that containers reuse (SOCK found
//! reuse ~2x faster than create + destroy).
//!
//! The mount roots are parameters, so unit tests run against a fake
//! cgroupfs in a temp dir; privileged tests use the real one.

pub mod detect;
mod pool;
mod v1;
mod v2;

pub use detect::{detect, CgroupLayout};
pub use pool::CgroupPool;
pub use v1::V1;
pub use v2::V2;

use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("no usable cgroup hierarchy: {0}")]
    Unsupported(String),
    #[error("cgroup v1 controller {0:?} is not mounted")]
    MissingController(&'static str),
    #[error("{op} {path}: {err}")]
    Io {
        op: &'static str,
        path: PathBuf,
        err: std::io::Error,
    },
    #[error("cgroup {path} did not reach state {state:?} within {timeout:?}")]
    Timeout {
        path: PathBuf,
        state: &'static str,
        timeout: Duration,
    },
    #[error("cgroup {path} still has processes {pids:?} after kill")]
    NotEmpty { path: PathBuf, pids: Vec<i32> },
}

pub type CgroupResult<T> = Result<T, CgroupError>;

/// Resource limits applied to each pooled cgroup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub memory_bytes: Option<u64>,
    pub pids: Option<u64>,
    /// CPU bandwidth: `quota_us` per `period_us`.
    pub cpu: Option<(u64, u64)>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: Some(256 << 20),
            pids: Some(64),
            cpu: Some((100_000, 100_000)),
        }
    }
}

/// Which backend; a closed set.
#[derive(Clone, Debug)]
pub enum CgroupBackend {
    V1(V1),
    V2(V2),
}

/// One cgroup, by its path relative to the hierarchy root(s).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cgroup {
    pub rel: PathBuf,
}

impl CgroupBackend {
    /// Picks the backend from `/proc/self/mountinfo` text: v1 when the
    /// v1 controllers are mounted (also in hybrid mode, where the v2
    /// hierarchy has no controllers), v2 on a unified host.
    pub fn from_mountinfo(mountinfo: &str) -> CgroupResult<CgroupBackend> {
        match detect(mountinfo) {
            CgroupLayout::V1 { controllers } | CgroupLayout::Hybrid { controllers, .. } => {
                Ok(CgroupBackend::V1(V1::from_controllers(&controllers)?))
            }
            CgroupLayout::V2 { mount } => Ok(CgroupBackend::V2(V2::new(mount))),
            CgroupLayout::None => Err(CgroupError::Unsupported(
                "no cgroup file system is mounted".into(),
            )),
        }
    }

    pub fn host() -> CgroupResult<CgroupBackend> {
        let text = read("/proc/self/mountinfo")?;
        CgroupBackend::from_mountinfo(&text)
    }

    pub fn name(&self) -> &'static str {
        match self {
            CgroupBackend::V1(_) => "v1",
            CgroupBackend::V2(_) => "v2",
        }
    }

    /// Creates `rel` (and parents) with `limits`.
    pub fn create(&self, rel: &Path, limits: &Limits) -> CgroupResult<Cgroup> {
        let cg = Cgroup {
            rel: rel.to_path_buf(),
        };
        match self {
            CgroupBackend::V1(b) => b.create(&cg, limits)?,
            CgroupBackend::V2(b) => b.create(&cg, limits)?,
        }
        Ok(cg)
    }

    /// The files a process writes `0` to in order to join `cg` (one per
    /// v1 hierarchy). Computed before fork, written by the child.
    pub fn join_files(&self, cg: &Cgroup) -> Vec<PathBuf> {
        match self {
            CgroupBackend::V1(b) => b.join_files(cg),
            CgroupBackend::V2(b) => vec![b.path(cg).join("cgroup.procs")],
        }
    }

    pub fn procs(&self, cg: &Cgroup) -> CgroupResult<Vec<Pid>> {
        let file = match self {
            CgroupBackend::V1(b) => b.freezer_path(cg).join("cgroup.procs"),
            CgroupBackend::V2(b) => b.path(cg).join("cgroup.procs"),
        };
        let text = read(&file)?;
        Ok(text
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .map(Pid::from_raw)
            .collect())
    }

    pub fn freeze(&self, cg: &Cgroup) -> CgroupResult<()> {
        match self {
            CgroupBackend::V1(b) => b.set_frozen(cg, true),
            CgroupBackend::V2(b) => b.set_frozen(cg, true),
        }
    }

    pub fn thaw(&self, cg: &Cgroup) -> CgroupResult<()> {
        match self {
            CgroupBackend::V1(b) => b.set_frozen(cg, false),
            CgroupBackend::V2(b) => b.set_frozen(cg, false),
        }
    }

    /// SIGKILLs every process in `cg` without waiting for them to go (an
    /// asynchronous destroy's critical path; the give-back's
    /// [`CgroupBackend::kill_all`] waits later).
    pub fn signal_all(&self, cg: &Cgroup) -> CgroupResult<()> {
        match self {
            CgroupBackend::V1(b) => b.kill_all(cg, self),
            CgroupBackend::V2(b) => b.kill_all(cg),
        }
    }

    /// SIGKILLs every process in `cg` and waits until it is empty.
    pub fn kill_all(&self, cg: &Cgroup) -> CgroupResult<()> {
        // Who was inside: those that were reparented to us (orphans of a
        // Zygote that went first) are ours to reap once they die.
        let seen = self.procs(cg)?;
        match self {
            CgroupBackend::V1(b) => b.kill_all(cg, self)?,
            CgroupBackend::V2(b) => b.kill_all(cg)?,
        }
        self.wait_empty(cg, Duration::from_secs(5), &seen)
    }

    fn wait_empty(&self, cg: &Cgroup, timeout: Duration, seen: &[Pid]) -> CgroupResult<()> {
        let start = Instant::now();
        loop {
            // Zombies of our own children leave the cgroup only when reaped.
            // Only the cgroup's own processes (those seen in it before the
            // kill, and those in it now) are reaped, never `waitpid(-1)`,
            // which would take children other code owns (a pip run).
            crate::sys::process::reap_pids(seen);
            crate::sys::process::reap_pids(&self.procs(cg)?);
            let pids = self.procs(cg)?;
            if pids.is_empty() {
                return Ok(());
            }
            if start.elapsed() > timeout {
                return Err(CgroupError::NotEmpty {
                    path: cg.rel.clone(),
                    pids: pids.iter().map(|p| p.as_raw()).collect(),
                });
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    /// Removes an empty cgroup (rmdir in every hierarchy).
    pub fn remove(&self, cg: &Cgroup) -> CgroupResult<()> {
        match self {
            CgroupBackend::V1(b) => b.remove(cg),
            CgroupBackend::V2(b) => b.remove(cg),
        }
    }

    /// The file of the memory charged to `cg` and the cgroups below it.
    pub fn memory_file(&self, cg: &Cgroup) -> PathBuf {
        match self {
            CgroupBackend::V1(b) => b.memory_path(cg).join("memory.usage_in_bytes"),
            CgroupBackend::V2(b) => b.path(cg).join("memory.current"),
        }
    }

    /// Current memory charged to `cg`, in bytes.
    pub fn memory_current(&self, cg: &Cgroup) -> CgroupResult<u64> {
        let text = read(self.memory_file(cg))?;
        Ok(text.trim().parse().unwrap_or(0))
    }

    /// Every cgroup directory below `prefix` (deepest first), for crash
    /// recovery and leak checks.
    pub fn list_below(&self, prefix: &Path) -> Vec<Cgroup> {
        let root = match self {
            CgroupBackend::V1(b) => b.freezer_path(&Cgroup {
                rel: prefix.to_path_buf(),
            }),
            CgroupBackend::V2(b) => b.path(&Cgroup {
                rel: prefix.to_path_buf(),
            }),
        };
        let mut out = Vec::new();
        collect_dirs(&root, prefix, &mut out);
        out.sort_by_key(|c| std::cmp::Reverse(c.rel.components().count()));
        out
    }
}

fn collect_dirs(dir: &Path, rel: &Path, out: &mut Vec<Cgroup>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            let r = rel.join(e.file_name());
            collect_dirs(&e.path(), &r, out);
            out.push(Cgroup { rel: r });
        }
    }
}

pub(crate) fn read(path: impl AsRef<Path>) -> CgroupResult<String> {
    let path = path.as_ref();
    std::fs::read_to_string(path).map_err(|err| CgroupError::Io {
        op: "read",
        path: path.to_path_buf(),
        err,
    })
}

pub(crate) fn write(path: impl AsRef<Path>, value: &str) -> CgroupResult<()> {
    let path = path.as_ref();
    std::fs::write(path, value).map_err(|err| CgroupError::Io {
        op: "write",
        path: path.to_path_buf(),
        err,
    })
}

pub(crate) fn mkdir(path: &Path) -> CgroupResult<()> {
    std::fs::create_dir_all(path).map_err(|err| CgroupError::Io {
        op: "mkdir",
        path: path.to_path_buf(),
        err,
    })
}

pub(crate) fn rmdir(path: &Path) -> CgroupResult<()> {
    match std::fs::remove_dir(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(CgroupError::Io {
            op: "rmdir",
            path: path.to_path_buf(),
            err,
        }),
    }
}

/// Polls `check` until true or `timeout`.
pub(crate) fn poll_until(
    path: &Path,
    state: &'static str,
    timeout: Duration,
    mut check: impl FnMut() -> CgroupResult<bool>,
) -> CgroupResult<()> {
    let start = Instant::now();
    while !check()? {
        if start.elapsed() > timeout {
            return Err(CgroupError::Timeout {
                path: path.to_path_buf(),
                state,
                timeout,
            });
        }
        std::thread::sleep(Duration::from_micros(100));
    }
    Ok(())
}
