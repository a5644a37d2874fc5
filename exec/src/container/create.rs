//! Creating a lean container: the setup steps, in order. ARCHITECTURE.md
//! lists the same steps; keep the two in lock-step.
//!
//! 1. take a cgroup from the pool (a Zygote's spare brings its own, taken
//!    from the pool and joined when the spare was forked);
//! 2. make the container folder: `root/` (mount point), `scratch/` and
//!    `scratch/tmp` owned by the handler's user;
//! 3. bind the base image read-only at `root/`;
//! 4. bind the handler folder read-only at `root/handler`;
//! 5. bind `scratch/` read-write at `root/host` and `scratch/tmp` at `root/tmp`;
//! 6. packages: a small tmpfs at `root/packages`, one read-only bind per
//!    package, then the tmpfs itself remounted read-only;
//! 7. create the listening Unix socket `scratch/server.sock` (socket
//!    activation: the runtime inherits it, so callers may connect at once);
//! 8. spawn the init process (see `spawn.rs`), or have a Zygote fork
//!    it into the container (see `crate::zygote`).
//!
//! Steps 2, 3, 5 and 7 do not depend on the container's handler or
//! packages: a prepared root (`blank.rs`) has them done at an idle point,
//! and a create that takes one does only steps 1, 4, 6 and 8.
//!
//! Any failure undoes the steps already done, in reverse.

use super::spawn::{spawn, Role, SpawnError, SpawnPlan};
use super::{Container, ContainerSpec, Executor, State};
use crate::cgroup::{Cgroup, CgroupError};
use crate::sys::{mount, SysError};
use nix::unistd::Pid;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("step 1, take a cgroup from the pool: {0}")]
    Cgroup(#[from] CgroupError),
    #[error("step 2, make {path}: {err}")]
    Dirs { path: PathBuf, err: std::io::Error },
    #[error("step 4, handler folder {path}: {why}")]
    Handler { path: PathBuf, why: String },
    #[error("step 3-6, mounts: {0}")]
    Mount(#[from] SysError),
    #[error("step 6, package {key:?}: {path} is not a folder")]
    Package { key: String, path: PathBuf },
    #[error("step 7, listen on {path}: {err}")]
    Socket { path: PathBuf, err: std::io::Error },
    #[error("step 8, start the runtime: {0}")]
    Spawn(#[from] SpawnError),
}

/// Undo log for a half-made container; [`Executor::undo`] reverses it.
pub(crate) struct Partial {
    pub(crate) id: u64,
    pub(crate) cgroup: Option<Cgroup>,
    pub(crate) dir: PathBuf,
    pub(crate) root: PathBuf,
    pub(crate) scratch: PathBuf,
    pub(crate) mounts: Vec<PathBuf>,
}

impl Partial {
    fn bind(&mut self, src: &Path, dst: &Path, readonly: bool) -> Result<(), SysError> {
        mount::bind(src, dst, readonly)?;
        self.mounts.push(dst.to_path_buf());
        Ok(())
    }
}

/// How long the last fresh create's steps took, each from the end of the
/// one before (`SOCK_BENCH_PHASES` prints them): step 1 (with any queued
/// teardown it had to complete first), steps 2-7, step 8 (fork, cgroup
/// join, namespaces, the child's exec).
#[derive(Clone, Copy, Debug, Default)]
pub struct CreateSteps {
    pub cgroup: Duration,
    pub prepare: Duration,
    pub spawn: Duration,
}

/// A container with steps 1-7 done: everything but its first process.
pub(crate) struct Prepared {
    /// When step 1 ended.
    pub(crate) took_cgroup: Instant,
    pub(crate) partial: Partial,
    pub(crate) socket: PathBuf,
    pub(crate) listener: OwnedFd,
    pub(crate) output: OwnedFd,
    /// `SOCK_PYTHONPATH`: the package folders inside the container.
    pub(crate) pythonpath: String,
}

fn mkdir(path: &Path) -> Result<(), CreateError> {
    std::fs::create_dir_all(path).map_err(|err| CreateError::Dirs {
        path: path.to_path_buf(),
        err,
    })
}

impl Executor {
    pub(crate) fn pool_give_back(&mut self, cg: Cgroup) -> Result<(), CgroupError> {
        self.pool.give_back(cg)
    }

    /// A free pooled cgroup (a spare reserves one at refill time).
    pub(crate) fn pool_take(&mut self) -> Result<Cgroup, CgroupError> {
        self.make_room();
        self.pool.take()
    }

    /// Creates and starts a lean container running `spec`'s handler in a
    /// fresh interpreter.
    pub fn create(&mut self, spec: &ContainerSpec) -> Result<Container, CreateError> {
        self.create_as(spec, Role::Handler)
    }

    /// Starts a Zygote server from scratch (a fresh interpreter importing
    /// `spec.imports`) in its own lean container. See `crate::zygote`.
    pub fn create_zygote(&mut self, spec: &ContainerSpec) -> Result<Container, CreateError> {
        self.create_as(spec, Role::Zygote)
    }

    fn create_as(&mut self, spec: &ContainerSpec, role: Role) -> Result<Container, CreateError> {
        let t0 = Instant::now();
        let prep = self.prepare(spec)?;
        let t1 = Instant::now();
        let started = (|| {
            let cg = prep
                .partial
                .cgroup
                .clone()
                .ok_or_else(|| CreateError::Dirs {
                    path: prep.partial.dir.clone(),
                    err: std::io::Error::other("cgroup already returned"),
                })?;
            let plan = SpawnPlan::new(
                &self.config,
                role,
                self.backend().join_files(&cg),
                &prep.partial.root,
                &prep.pythonpath,
                &spec.imports,
            )?;
            let listener = prep
                .listener
                .try_clone()
                .map_err(|err| CreateError::Socket {
                    path: prep.socket.clone(),
                    err,
                })?;
            let output = prep.output.try_clone().map_err(|err| CreateError::Dirs {
                path: prep.partial.scratch.clone(),
                err,
            })?;
            Ok(spawn(&plan, listener, output)?)
        })();
        match started {
            Ok(init) => {
                self.last_create = CreateSteps {
                    cgroup: prep.took_cgroup - t0,
                    prepare: t1 - prep.took_cgroup,
                    spawn: t1.elapsed(),
                };
                Ok(self.finish(prep, init))
            }
            Err(e) => {
                self.undo(prep.partial);
                Err(e)
            }
        }
    }

    /// The container is running with `init` as its first process.
    pub(crate) fn finish(&mut self, prep: Prepared, init: Pid) -> Container {
        let Prepared {
            partial, socket, ..
        } = prep;
        let Partial {
            id,
            cgroup,
            dir,
            root,
            scratch,
            mounts,
        } = partial;
        Container {
            id,
            dir,
            root,
            scratch,
            socket,
            init,
            cgroup: cgroup.expect("a prepared container holds its cgroup"),
            state: State::Running,
            mounts,
        }
    }

    /// Reverses the steps a half-made container went through.
    /// Failures are logged: the caller is already returning the error that
    /// made it undo, and whatever is left is swept by the executor's
    /// teardown (or the next start's recovery).
    pub(crate) fn undo(&mut self, mut p: Partial) {
        for m in p.mounts.iter().rev() {
            if let Err(e) = mount::unmount(m, true) {
                tracing::warn!(container = p.id, error = %e, "undo: unmount failed");
            }
        }
        if let Err(e) = std::fs::remove_dir_all(&p.dir) {
            tracing::warn!(container = p.id, dir = %p.dir.display(), error = %e, "undo: removing the folder failed");
        }
        if let Some(cg) = p.cgroup.take() {
            if let Err(e) = self.pool_give_back(cg) {
                tracing::warn!(container = p.id, error = %e, "undo: returning the cgroup failed");
            }
        }
    }

    /// Steps 1-7; on failure the steps done are undone.
    pub(crate) fn prepare(&mut self, spec: &ContainerSpec) -> Result<Prepared, CreateError> {
        self.prepare_in(spec, None)
    }

    /// [`Executor::prepare`] in `cgroup` when given: a pooled cgroup taken
    /// earlier, which a Zygote's spare already joined (step 1 is then done,
    /// off the critical path). On failure it goes back to the pool, which
    /// kills whatever it holds.
    pub(crate) fn prepare_in(
        &mut self,
        spec: &ContainerSpec,
        cgroup: Option<Cgroup>,
    ) -> Result<Prepared, CreateError> {
        let cgroup = match cgroup {
            Some(cg) => cg,
            None => {
                self.make_room();
                self.pool.take()?
            }
        };
        let took_cgroup = Instant::now();
        let (mut p, generic) = match self.take_blank() {
            Some(b) => (b.partial, Ok((b.socket, b.listener, b.output))),
            None => {
                let mut p = self.new_partial();
                let generic = self.generic_steps(&mut p);
                (p, generic)
            }
        };
        p.cgroup = Some(cgroup);
        let steps = generic.and_then(|(socket, listener, output)| {
            let pythonpath = self.spec_steps(spec, &mut p)?;
            Ok((socket, listener, output, pythonpath))
        });
        match steps {
            Ok((socket, listener, output, pythonpath)) => Ok(Prepared {
                took_cgroup,
                partial: p,
                socket,
                listener,
                output,
                pythonpath,
            }),
            Err(e) => {
                self.undo(p);
                Err(e)
            }
        }
    }

    /// A new container folder's undo log (nothing made yet).
    pub(crate) fn new_partial(&mut self) -> Partial {
        let id = self.next_id;
        self.next_id += 1;
        let dir = self.containers_dir.join(format!("c{id}"));
        Partial {
            id,
            cgroup: None,
            root: dir.join("root"),
            scratch: dir.join("scratch"),
            dir,
            mounts: Vec::new(),
        }
    }

    /// Steps 2, 3, 5 and 7: what does not depend on the container's
    /// handler or packages (done ahead for a prepared root, `blank.rs`).
    pub(crate) fn generic_steps(
        &self,
        p: &mut Partial,
    ) -> Result<(PathBuf, OwnedFd, OwnedFd), CreateError> {
        let (uid, gid) = (self.config.uid, self.config.gid);
        let (root, scratch) = (p.root.clone(), p.scratch.clone());
        for d in [&root, &scratch.join("tmp")] {
            mkdir(d)?;
        }
        for d in [&scratch, &scratch.join("tmp")] {
            nix::unistd::chown(d.as_path(), Some(uid.into()), Some(gid.into()))
                .map_err(|e| CreateError::Mount(SysError::at("chown", d.as_path(), e)))?;
        }
        p.bind(&self.config.base_root, &root, true)?;
        p.bind(&scratch, &root.join("host"), false)?;
        p.bind(&scratch.join("tmp"), &root.join("tmp"), false)?;
        let socket = scratch.join("server.sock");
        let listener = UnixListener::bind(&socket).map_err(|err| CreateError::Socket {
            path: socket.clone(),
            err,
        })?;
        let log = scratch.join("output.log");
        let output = std::fs::File::create(&log).map_err(|err| CreateError::Dirs {
            path: log.clone(),
            err,
        })?;
        Ok((socket, listener.into(), output.into()))
    }

    /// Steps 4 and 6: the handler's folder and the packages; returns the
    /// `SOCK_PYTHONPATH` value.
    fn spec_steps(&self, spec: &ContainerSpec, p: &mut Partial) -> Result<String, CreateError> {
        let root = p.root.clone();
        // A Zygote has no handler (empty path): /handler stays empty.
        if !spec.handler_dir.as_os_str().is_empty() {
            check_handler(&spec.handler_dir)?;
            p.bind(&spec.handler_dir, &root.join("handler"), true)?;
        }
        mount_packages(p, &root, &spec.packages)
    }
}

/// The handler runs as an unprivileged user: its folder must be
/// world-traversable and `f.py` world-readable.
fn check_handler(dir: &Path) -> Result<(), CreateError> {
    use std::os::unix::fs::PermissionsExt;
    let bad = |why: String| CreateError::Handler {
        path: dir.to_path_buf(),
        why,
    };
    let meta = std::fs::metadata(dir).map_err(|e| bad(e.to_string()))?;
    if !meta.is_dir() {
        return Err(bad("not a folder".into()));
    }
    if meta.permissions().mode() & 0o005 != 0o005 {
        return Err(bad(
            "must be readable and searchable by others (chmod o+rx)".into(),
        ));
    }
    let f = dir.join("f.py");
    let fm = std::fs::metadata(&f).map_err(|e| bad(format!("f.py: {e}")))?;
    if fm.permissions().mode() & 0o004 == 0 {
        return Err(bad("f.py must be readable by others (chmod o+r)".into()));
    }
    Ok(())
}

/// Step 6; returns the `SOCK_PYTHONPATH` value for the runtime.
fn mount_packages(
    p: &mut Partial,
    root: &Path,
    packages: &[(String, PathBuf)],
) -> Result<String, CreateError> {
    if packages.is_empty() {
        return Ok(String::new());
    }
    let dir = root.join("packages");
    mount::tmpfs(&dir, "size=64k,mode=755")?;
    p.mounts.push(dir.clone());
    let mut paths = Vec::with_capacity(packages.len());
    for (key, src) in packages {
        if !src.is_dir() {
            return Err(CreateError::Package {
                key: key.clone(),
                path: src.clone(),
            });
        }
        let dst = dir.join(key);
        mkdir(&dst)?;
        p.bind(src, &dst, true)?;
        paths.push(format!("/packages/{key}"));
    }
    mount::remount_tmpfs_readonly(&dir)?;
    Ok(paths.join(":"))
}
