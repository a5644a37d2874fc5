//! Starting a container's init process (fresh start: a new interpreter).
//! Containers whose first process is forked from a Zygote are started by
//! `crate::zygote` instead.
//!
//! One `clone(CLONE_VM | CLONE_VFORK | CLONE_NEWPID | CLONE_NEWIPC |
//! CLONE_NEWUTS)` (a Zygote's container: no new PID namespace) makes the
//! init directly: PID 1 of its new namespace and the executor's own
//! child. It shares the executor's memory until it execs (as
//! `posix_spawn` does), so nothing is copied: no page tables, and no
//! copy-on-write faults in the executor afterwards; the calling thread
//! is suspended until the child has exec'd or exited. The child joins
//! the cgroup, sets the hostname, places its inherited fds (0:
//! /dev/null, 1-2: the log, 3: the listening socket), chroots, drops to
//! the unprivileged user, sets no_new_privs and execs the interpreter.
//! Because it shares memory, the child runs only raw system calls on
//! buffers prepared before the clone ([`Prepared`]): no allocation, no
//! lock, no formatting. A failing step stores its number and errno in a
//! shared [`Failure`] and exits; the parent reads it once the clone
//! returns and names the step.
//!
//! This replaced two `fork`s (an intermediate that unshared the
//! namespaces, then the init): BENCHMARKS.md, "One clone instead of two
//! forks".

use super::ExecutorConfig;
use crate::sys::{process, SysError};
use nix::libc;
use nix::sched::CloneFlags;
use nix::unistd::Pid;
use std::ffi::{c_char, CString};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("{0}")]
    Sys(#[from] SysError),
    #[error("a path or argument holds a NUL byte: {0:?}")]
    Nul(String),
    #[error("the container's init failed before exec: {0}")]
    Child(String),
}

/// What the container's first process becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Serves the handler over HTTP: PID 1 of a new PID namespace, runs
    /// as the unprivileged user.
    Handler,
    /// A Zygote server: stays in the executor's PID namespace and keeps
    /// root, because its children must join other containers.
    Zygote,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Handler => "handler",
            Role::Zygote => "zygote",
        }
    }

    /// The namespaces the init gets (no network or mount namespace:
    /// SOCK's lean containers share the host's, which keeps them fast).
    fn namespaces(self) -> CloneFlags {
        let ipc_uts = CloneFlags::CLONE_NEWIPC | CloneFlags::CLONE_NEWUTS;
        match self {
            Role::Handler => ipc_uts | CloneFlags::CLONE_NEWPID,
            Role::Zygote => ipc_uts,
        }
    }
}

/// Everything the child needs, prepared before the clone.
#[derive(Debug)]
pub(super) struct SpawnPlan {
    role: Role,
    join_files: Vec<PathBuf>,
    join_c: Vec<CString>,
    root: CString,
    uid: u32,
    gid: u32,
    program: CString,
    argv: Vec<CString>,
    env: Vec<CString>,
    null: OwnedFd,
}

/// `items` as a JSON list of strings.
fn json_list(items: &[String]) -> String {
    serde_json::Value::from(items.to_vec()).to_string()
}

fn cstring(s: &str) -> Result<CString, SpawnError> {
    CString::new(s).map_err(|_| SpawnError::Nul(s.to_string()))
}

fn cpath(p: &Path) -> Result<CString, SpawnError> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| SpawnError::Nul(p.display().to_string()))
}

impl SpawnPlan {
    pub(super) fn new(
        config: &ExecutorConfig,
        role: Role,
        join_files: Vec<PathBuf>,
        root: &Path,
        pythonpath: &str,
        imports: &[String],
    ) -> Result<SpawnPlan, SpawnError> {
        let mut argv = vec![cstring(&config.python)?];
        for f in &config.python_flags {
            argv.push(cstring(f)?);
        }
        argv.push(cstring("/sock/runtime.py")?);
        let env = vec![
            cstring("PATH=/usr/local/bin:/usr/bin:/bin")?,
            cstring("HOME=/tmp")?,
            cstring("LANG=C.UTF-8")?,
            cstring(&format!("SOCK_PYTHONPATH={pythonpath}"))?,
            // Data, never code: a JSON list the runtime parses.
            cstring(&format!("SOCK_IMPORTS={}", json_list(imports)))?,
            cstring(&format!("SOCK_ROLE={}", role.as_str()))?,
        ];
        let null = std::fs::File::open("/dev/null")
            .map_err(|e| SpawnError::Child(format!("open /dev/null: {e}")))?;
        let join_c = join_files
            .iter()
            .map(|f| cpath(f))
            .collect::<Result<_, _>>()?;
        Ok(SpawnPlan {
            role,
            join_files,
            join_c,
            root: cpath(root)?,
            uid: config.uid,
            gid: config.gid,
            program: cstring(&config.python)?,
            argv,
            env,
            null: null.into(),
        })
    }
}

/// The child's steps, numbered for [`Failure`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
enum Step {
    Join = 1,
    Hostname,
    Fds,
    Chroot,
    Chdir,
    Setgroups,
    Setgid,
    Setuid,
    NoNewPrivs,
    Exec,
}

const STEPS: [Step; 10] = [
    Step::Join,
    Step::Hostname,
    Step::Fds,
    Step::Chroot,
    Step::Chdir,
    Step::Setgroups,
    Step::Setgid,
    Step::Setuid,
    Step::NoNewPrivs,
    Step::Exec,
];

/// Written by a failing child (shared memory: `CLONE_VM`), read by the
/// parent after the clone returns (`CLONE_VFORK`: the child is gone or
/// exec'd by then).
#[derive(Default)]
struct Failure {
    step: AtomicI32,
    /// The join file's index when `step` is `Join`.
    index: AtomicI32,
    errno: AtomicI32,
}

/// Pointers and fds the child uses: built before the clone.
struct Prepared<'a> {
    plan: &'a SpawnPlan,
    argv: Vec<*const c_char>,
    envp: Vec<*const c_char>,
    /// (source, target) for fds 0-3.
    fds: [(RawFd, RawFd); 4],
    /// The signal mask to restore before exec.
    mask: libc::sigset_t,
}

fn null_terminated(items: &[CString]) -> Vec<*const c_char> {
    items
        .iter()
        .map(|c| c.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// Starts the container's init; returns its host pid once it has exec'd.
pub(super) fn spawn(
    plan: &SpawnPlan,
    listener: OwnedFd,
    output: OwnedFd,
) -> Result<Pid, SpawnError> {
    let mut prep = Prepared {
        plan,
        argv: null_terminated(&plan.argv),
        envp: null_terminated(&plan.env),
        fds: [
            (plan.null.as_raw_fd(), 0),
            (output.as_raw_fd(), 1),
            (output.as_raw_fd(), 2),
            (listener.as_raw_fd(), 3),
        ],
        // SAFETY: an all-zero sigset_t is a valid (empty) set;
        // pthread_sigmask below overwrites it with the current mask.
        mask: unsafe { std::mem::zeroed() },
    };
    let failure = Failure::default();
    // Block every signal around the clone: a handler must not run in the
    // child while it shares our memory (it resets the dispositions and
    // restores this mask just before exec).
    // SAFETY: plain sigset manipulation on local values.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut prep.mask);
    }
    // The child's stack until exec: a few raw calls and a sigaction on it.
    // Under malloc's mmap threshold, so it is reused, not mapped each time.
    let mut stack = vec![0u8; 64 * 1024];
    let flags = CloneFlags::CLONE_VM | CloneFlags::CLONE_VFORK | plan.role.namespaces();
    let prep_ref = &prep;
    let failure_ref = &failure;
    // SAFETY: with CLONE_VM the child shares our memory; it only runs
    // `child`, which makes raw system calls on buffers that outlive the
    // call (CLONE_VFORK suspends this thread until the child has exec'd or
    // exited) and never allocates, locks or unwinds.
    let cloned = unsafe {
        nix::sched::clone(
            Box::new(|| child(prep_ref, failure_ref)),
            &mut stack,
            flags,
            Some(libc::SIGCHLD),
        )
    };
    // SAFETY: restores the mask saved above.
    unsafe {
        libc::pthread_sigmask(libc::SIG_SETMASK, &prep.mask, std::ptr::null_mut());
    }
    drop(listener);
    drop(output);
    let pid = cloned.map_err(|e| SysError::new("clone(CLONE_VM|CLONE_VFORK|namespaces)", e))?;
    let step = failure.step.load(Ordering::SeqCst);
    if step == 0 {
        return Ok(pid);
    }
    // The child exited: reap it, then name the step.
    process::wait(pid)?;
    let errno = nix::errno::Errno::from_raw(failure.errno.load(Ordering::SeqCst));
    let what = match STEPS.get(step as usize - 1) {
        Some(Step::Join) => {
            let i = failure.index.load(Ordering::SeqCst) as usize;
            let f = plan.join_files.get(i).map(|f| f.display().to_string());
            format!("join cgroup {}", f.unwrap_or_default())
        }
        Some(Step::Chroot) => format!("chroot {}", plan.root.to_string_lossy()),
        Some(Step::Exec) => format!("execve {}", plan.program.to_string_lossy()),
        Some(s) => format!("{s:?}").to_lowercase(),
        None => format!("step {step}"),
    };
    Err(SpawnError::Child(format!("{what}: {errno}")))
}

/// The child, sharing the parent's memory: raw system calls only. Returns
/// only to exit (the clone trampoline `_exit`s with the value).
fn child(p: &Prepared<'_>, failure: &Failure) -> isize {
    let fail = |step: Step, index: usize| -> isize {
        failure.index.store(index as i32, Ordering::SeqCst);
        failure
            .errno
            .store(nix::errno::Errno::last_raw(), Ordering::SeqCst);
        failure.step.store(step as i32, Ordering::SeqCst);
        // SAFETY: _exit takes no pointers and runs no handler.
        unsafe { libc::_exit(127) }
    };
    // SAFETY: every call below is a system call on buffers prepared by
    // the parent and alive until the child execs or exits.
    unsafe {
        // Our own dispositions (a copy: no CLONE_SIGHAND): a signal with a
        // handler of the parent's goes back to default, so no handler runs
        // here once signals unblock; ignored ones stay ignored across exec,
        // as after a fork (posix_spawn does the same).
        for sig in 1..32 {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &mut old) == 0
                && old.sa_sigaction != libc::SIG_DFL
                && old.sa_sigaction != libc::SIG_IGN
            {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
        for (i, f) in p.plan.join_c.iter().enumerate() {
            let fd = libc::open(f.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
            if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                return fail(Step::Join, i);
            }
            libc::close(fd);
        }
        if libc::sethostname(c"sock".as_ptr(), 4) != 0 {
            return fail(Step::Hostname, 0);
        }
        if crate::sys::fs::place_fds(&p.fds).is_err() {
            return fail(Step::Fds, 0);
        }
        if libc::chroot(p.plan.root.as_ptr()) != 0 {
            return fail(Step::Chroot, 0);
        }
        if libc::chdir(c"/".as_ptr()) != 0 {
            return fail(Step::Chdir, 0);
        }
        if p.plan.role == Role::Handler {
            if libc::setgroups(0, std::ptr::null()) != 0 {
                return fail(Step::Setgroups, 0);
            }
            let (u, g) = (p.plan.uid, p.plan.gid);
            if libc::setresgid(g, g, g) != 0 {
                return fail(Step::Setgid, 0);
            }
            if libc::setresuid(u, u, u) != 0 {
                return fail(Step::Setuid, 0);
            }
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                return fail(Step::NoNewPrivs, 0);
            }
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, &p.mask, std::ptr::null_mut());
        libc::execve(p.plan.program.as_ptr(), p.argv.as_ptr(), p.envp.as_ptr());
        fail(Step::Exec, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 12: `SOCK_IMPORTS` was the module names joined with commas, so
    /// a name holding a comma became two imports. It is a JSON list now.
    #[test]
    fn imports_reach_the_runtime_as_a_json_list() {
        let config = ExecutorConfig::new("/nonexistent".into(), "/nonexistent".into());
        let imports = vec!["a,b".to_string(), "c.d".to_string()];
        let plan = SpawnPlan::new(
            &config,
            Role::Handler,
            Vec::new(),
            Path::new("/r"),
            "",
            &imports,
        )
        .expect("plan");
        let env: Vec<String> = plan
            .env
            .iter()
            .map(|e| e.to_string_lossy().into_owned())
            .collect();
        assert!(
            env.iter().any(|e| e == r#"SOCK_IMPORTS=["a,b","c.d"]"#),
            "{env:?}"
        );
    }

    /// The runtime reads that list as JSON and imports only dotted
    /// identifiers (defence in depth: the executor never sends others).
    #[test]
    fn runtime_reads_json_imports_and_refuses_non_identifiers() {
        let runtime = Path::new(env!("CARGO_MANIFEST_DIR")).join("runtime");
        let prog = "import sys\nsys.path.insert(0, sys.argv[1])\nimport sock_runtime as rt\n\
            print(rt.env_list('SOCK_IMPORTS'))\n\
            print(rt.import_modules(['json', 'os.path'])[1])\n\
            print(rt.import_modules(['os; x'])[1])\n";
        let out = std::process::Command::new("python3")
            .args(["-S", "-c", prog])
            .arg(&runtime)
            .env("SOCK_IMPORTS", r#"["a,b", "c.d"]"#)
            .output()
            .expect("python3");
        let text = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(lines.first().copied(), Some("['a,b', 'c.d']"), "{text}");
        assert_eq!(lines.get(1).copied(), Some("None"), "{text}");
        assert!(
            lines
                .get(2)
                .is_some_and(|l| l.contains("not a module name")),
            "{text}"
        );
    }
}
