//! Starting a container's init process (fresh start: a new interpreter).
//! Containers whose first process is forked from a Zygote are started by
//! `crate::zygote` instead.
//!
//! The executor forks C1, which joins the cgroup, unshares IPC/UTS/PID
//! namespaces and forks C2: the first process of the new PID namespace
//! (PID 1 inside). C1 reports C2's pid and exits at once, so C2 is
//! reparented to the executor (a child subreaper). C2 sets the hostname,
//! places its inherited fds (0: /dev/null, 1-2: the log, 3: the listening
//! socket), chroots, drops to the unprivileged user, sets no_new_privs and
//! execs the interpreter. A close-on-exec error pipe tells the executor
//! whether the exec happened: it reads EOF on success, an error otherwise.

use super::ExecutorConfig;
use crate::sys::{fs, process, SysError};
use nix::unistd::Pid;
use std::ffi::CString;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("{0}")]
    Sys(#[from] SysError),
    #[error("a path or argument holds a NUL byte: {0:?}")]
    Nul(String),
    #[error("the container's init failed before exec: {0}")]
    Child(String),
    #[error("the intermediate process did not report the init pid")]
    NoPid,
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
}

/// Everything the children need, prepared before fork.
#[derive(Debug)]
pub(super) struct SpawnPlan {
    role: Role,
    join_files: Vec<PathBuf>,
    root: PathBuf,
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
        Ok(SpawnPlan {
            role,
            join_files,
            root: root.to_path_buf(),
            uid: config.uid,
            gid: config.gid,
            program: cstring(&config.python)?,
            argv,
            env,
            null: null.into(),
        })
    }
}

/// Starts the container's init; returns its host pid once it has exec'd.
pub(super) fn spawn(
    plan: &SpawnPlan,
    listener: OwnedFd,
    output: OwnedFd,
) -> Result<Pid, SpawnError> {
    let (pid_r, pid_w) = fs::pipe()?;
    let (err_r, err_w) = fs::pipe()?;
    match process::fork()? {
        process::ForkResult::Child => {
            drop(pid_r);
            drop(err_r);
            intermediate(plan, &listener, &output, pid_w, err_w)
        }
        process::ForkResult::Parent { child } => {
            drop(pid_w);
            drop(err_w);
            drop(listener);
            drop(output);
            process::wait(child)?;
            let mut buf = [0u8; 4];
            let mut pid_file = std::fs::File::from(pid_r);
            let got_pid = pid_file.read_exact(&mut buf).is_ok();
            let mut msg = String::new();
            let _ = std::fs::File::from(err_r).read_to_string(&mut msg);
            if !msg.is_empty() {
                return Err(SpawnError::Child(msg));
            }
            if !got_pid {
                return Err(SpawnError::NoPid);
            }
            Ok(Pid::from_raw(i32::from_ne_bytes(buf)))
        }
    }
}

fn report(err_w: &OwnedFd, msg: &str) {
    let _ = nix::unistd::write(err_w, msg.as_bytes());
}

/// C1: join the cgroup, unshare, fork the init, report its pid, exit.
fn intermediate(
    plan: &SpawnPlan,
    listener: &OwnedFd,
    output: &OwnedFd,
    pid_w: OwnedFd,
    err_w: OwnedFd,
) -> ! {
    for f in &plan.join_files {
        if let Err(e) = std::fs::write(f, "0") {
            report(&err_w, &format!("join cgroup {}: {e}", f.display()));
            process::exit_now(1);
        }
    }
    let unshared = match plan.role {
        Role::Handler => process::unshare_lean(),
        Role::Zygote => process::unshare_ipc_uts(),
    };
    if let Err(e) = unshared {
        report(&err_w, &e.to_string());
        process::exit_now(1);
    }
    match process::fork() {
        Ok(process::ForkResult::Child) => {
            drop(pid_w);
            let e = init(plan, listener, output);
            report(&err_w, &e.to_string());
            process::exit_now(127)
        }
        Ok(process::ForkResult::Parent { child }) => {
            let _ = std::fs::File::from(pid_w).write_all(&child.as_raw().to_ne_bytes());
            process::exit_now(0)
        }
        Err(e) => {
            report(&err_w, &e.to_string());
            process::exit_now(1)
        }
    }
}

/// C2, PID 1 of the new namespace (a handler) or the Zygote server: the
/// fixed entry sequence. Returns only
/// on failure.
fn init(plan: &SpawnPlan, listener: &OwnedFd, output: &OwnedFd) -> SysError {
    let steps = || -> Result<(), SysError> {
        fs::set_hostname("sock")?;
        fs::place_fds(&[
            (plan.null.as_fd(), 0),
            (output.as_fd(), 1),
            (output.as_fd(), 2),
            (listener.as_fd(), 3),
        ])?;
        fs::chroot_to(&plan.root)?;
        if plan.role == Role::Handler {
            fs::drop_privileges(plan.uid, plan.gid)?;
            fs::no_new_privs()?;
        }
        Ok(())
    };
    if let Err(e) = steps() {
        return e;
    }
    fs::exec(&plan.program, &plan.argv, &plan.env)
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
