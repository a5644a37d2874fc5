//! Shared set-up for privileged tests: they need root and a base image, and
//! run in a single-threaded harness (`harness = false`) because the
//! executor forks. Without root they skip loudly; with
//! `SOCK_REQUIRE_PRIVILEGED=1` (CI) skipping is a failure.
//! (One file over 400 lines on purpose: every suite's `mod common` gets
//! the same helpers; the replay harness is apart in `replay.rs`.)

#![allow(dead_code)]

pub mod replay;

use sock_exec::container::{Container, ContainerSpec, Executor, ExecutorConfig};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Per-request timeout of the privileged tests.
pub const T: Duration = Duration::from_secs(20);

pub const ECHO: &str = "def f(event):\n    return {'echo': event}\n";

pub type TestResult = Result<(), String>;

/// A named privileged test case.
pub type Case<'a> = (&'a str, fn(&Path) -> TestResult);

/// Where tests find the base image: `SOCK_EXEC_BASE`, else the default state.
pub fn base_root() -> PathBuf {
    std::env::var_os("SOCK_EXEC_BASE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/lib/sock-exec/base/root"))
}

/// Returns false (after printing why) when the privileged cases cannot run;
/// exits with failure instead when CI requires them.
pub fn can_run(suite: &str) -> bool {
    let why = if !sock_exec::sys::process::is_root() {
        Some("needs root".to_string())
    } else if !base_root().join("sock/runtime.py").exists() {
        Some(format!(
            "no base image at {} (run `sock-exec base`)",
            base_root().display()
        ))
    } else {
        None
    };
    match why {
        None => true,
        Some(why) => {
            if std::env::var("SOCK_REQUIRE_PRIVILEGED").as_deref() == Ok("1") {
                eprintln!("FAILED: {suite}: {why}, and SOCK_REQUIRE_PRIVILEGED=1 forbids skipping");
                std::process::exit(1);
            }
            eprintln!("\n!!! SKIPPED: {suite}: {why} !!!\n");
            false
        }
    }
}

/// Runs named cases in order (filtered by non-flag arguments, as cargo
/// test passes them); exits non-zero if any failed.
pub fn run_cases(suite: &str, cases: &[Case<'_>]) {
    test_pid();
    if !can_run(suite) {
        return;
    }
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let mut failed = Vec::new();
    let mut ran = 0;
    for (name, case) in cases {
        if !filters.is_empty() && !filters.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let dir = tempfile::Builder::new()
            .prefix(&case_dir_prefix())
            .tempdir()
            .expect("tempdir");
        let t = std::time::Instant::now();
        let r = case(dir.path());
        ran += 1;
        match r {
            Ok(()) => println!(
                "test {suite}::{name} ... ok ({:.1} s)",
                t.elapsed().as_secs_f64()
            ),
            Err(e) => {
                println!("test {suite}::{name} ... FAILED: {e}");
                failed.push(*name);
            }
        }
    }
    remove_test_cgroup_parent();
    println!(
        "\n{suite}: {} passed; {} failed",
        ran - failed.len(),
        failed.len()
    );
    if !failed.is_empty() {
        std::process::exit(1);
    }
}

/// The cgroup prefix of one case: unique to this test process
/// (`sock-exec-test-<pid>/<case>`), so that test runs of other engineers
/// (or CI jobs) on the same host never share, recover or count each
/// other's cgroups.
pub fn prefix(case: &str) -> PathBuf {
    PathBuf::from(format!("sock-exec-test-{}/{case}", test_pid()))
}

/// The test process's pid, fixed by [`run_cases`] before any case forks:
/// a forked child (a crashing executor, say) uses its parent's prefix.
pub fn test_pid() -> u32 {
    static PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *PID.get_or_init(std::process::id)
}

/// An executor private to one case: its own state dir and cgroup prefix.
pub fn executor(dir: &Path, case: &str) -> Executor {
    let mut config = ExecutorConfig::new(dir.join("state"), base_root());
    config.cgroup_prefix = prefix(case);
    config.pool_size = 2;
    config.limits.memory_bytes = Some(96 << 20);
    config.limits.pids = Some(32);
    Executor::new(config).expect("executor")
}

/// Writes a handler folder (world-readable, as the runtime's user needs).
pub fn handler(dir: &Path, name: &str, source: &str) -> ContainerSpec {
    use std::os::unix::fs::PermissionsExt;
    let h = dir.join(name);
    std::fs::create_dir_all(&h).expect("mkdir");
    std::fs::write(h.join("f.py"), source).expect("write f.py");
    std::fs::set_permissions(&h, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::set_permissions(h.join("f.py"), std::fs::Permissions::from_mode(0o644))
        .expect("chmod");
    // The temp dir itself must be traversable too.
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755));
    ContainerSpec {
        handler_dir: h,
        ..ContainerSpec::default()
    }
}

pub fn check(cond: bool, msg: impl Into<String>) -> TestResult {
    if cond {
        Ok(())
    } else {
        Err(msg.into())
    }
}

/// Removes `sock-exec-test-<pid>`, the parent of every case's prefix
/// (each executor removes its own prefix); it stays, with a note, if a
/// case left cgroups below it.
fn remove_test_cgroup_parent() {
    let Ok(backend) = sock_exec::cgroup::CgroupBackend::host() else {
        return;
    };
    let top = PathBuf::from(format!("sock-exec-test-{}", test_pid()));
    let left = backend.list_below(&top);
    if !left.is_empty() {
        println!("note: cgroups left below {}: {left:?}", top.display());
        return;
    }
    // Absent when no case made an executor: nothing to remove then.
    let _absent_or_removed = backend.remove(&sock_exec::cgroup::Cgroup { rel: top });
}

/// Name prefix of this test process's case folders (`sock-test-<pid>-`).
pub fn case_dir_prefix() -> String {
    format!("sock-test-{}-", test_pid())
}

/// Mounts that belong to this test process: those below its case folders
/// (every test executor's state lives there). Other engineers' or CI jobs'
/// containers on the same host are not counted.
pub fn mount_count() -> usize {
    let mine = std::env::temp_dir().join(case_dir_prefix());
    let mine = mine.to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|s| {
            s.lines()
                .filter_map(|l| l.split(' ').nth(4))
                .filter(|m| m.starts_with(mine.as_str()))
                .count()
        })
        .unwrap_or(0)
}

pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Our live child processes (containers' inits are reparented to us).
pub fn child_count() -> usize {
    children_of(std::process::id()).len()
}

/// Our child processes once they have settled: waits (at most 1 s) until
/// the list stops changing for 100 ms, as a process killed with a Zygote's
/// container is reparented to us (the subreaper) only when its parent has
/// died. With `reap_strays`, zombies among our children are reaped first
/// (loudly): for a baseline, so what an earlier test left is not counted
/// against this one; a final check passes `false`, so a zombie its own
/// teardown left counts as a leak (issue 9's reparented-child leak, which
/// `Executor`'s shutdown and drop now reap).
pub fn settled_child_count(reap_strays: bool) -> usize {
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    let mut last = children_of(std::process::id());
    let mut stable_since = std::time::Instant::now();
    while std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        let now = children_of(std::process::id());
        if now != last {
            last = now;
            stable_since = std::time::Instant::now();
        } else if stable_since.elapsed() >= Duration::from_millis(100) {
            break;
        }
    }
    let zombies = last.iter().filter(|s| *s == "Z").count();
    if reap_strays && zombies > 0 {
        for _ in 0..zombies {
            match nix::sys::wait::waitpid(
                nix::unistd::Pid::from_raw(-1),
                Some(nix::sys::wait::WaitPidFlag::WNOHANG),
            ) {
                Ok(nix::sys::wait::WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => {}
            }
        }
        eprintln!("(reaped {zombies} zombie child process(es) an earlier test left)");
    }
    child_count()
}

/// Zombie children of `pid` (a Zygote must reap its intermediate children).
pub fn zombies_of(pid: i32) -> usize {
    let pid = u32::try_from(pid).unwrap_or(0);
    children_of(pid).iter().filter(|s| *s == "Z").count()
}

/// The state letter of each child process of `ppid`, from `/proc/*/stat`.
fn children_of(ppid: u32) -> Vec<String> {
    let ppid = ppid.to_string();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter_map(|stat| {
            // pid (comm) state ppid ...: comm may hold spaces; split after ')'.
            let (_, rest) = stat.rsplit_once(')')?;
            let mut f = rest.split_whitespace();
            let state = f.next()?.to_string();
            (f.next() == Some(ppid.as_str())).then_some(state)
        })
        .collect()
}

/// Open fds of process `pid` (a Zygote must not leak the fds it is sent).
pub fn fds_of(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// A root Zygote (no imports), started and serving.
pub fn root_zygote(ex: &mut Executor) -> Result<Container, String> {
    let z = ex
        .create_zygote(&ContainerSpec::default())
        .map_err(|e| e.to_string())?;
    ex.ping(&z, T).map_err(|e| e.to_string())?;
    Ok(z)
}

/// The base image's Python version (`3.N`), as installers need it.
pub fn base_python() -> Result<String, String> {
    sock_exec::base::python_version(&base_root()).ok_or_else(|| "no python in the base".into())
}

/// A handler that reports what it can see and do (see [`check_isolated`]).
pub const PROBE: &str = r#"
import os
def attempt(fn):
    try:
        fn()
        return "allowed"
    except Exception as e:
        return type(e).__name__

def write(path):
    with open(path, "w") as fh:
        fh.write("x")

def f(event):
    return {
        "uid": os.getuid(),
        "pid": os.getpid(),
        "hostname": os.uname().nodename,
        "host_secret_visible": os.path.exists(event["secret"]),
        "host_secret_via_dotdot": os.path.exists("/../../../.." + event["secret"]),
        "other_scratch_visible": os.path.exists(event["other_scratch"]),
        "signal_host_pid": attempt(lambda: os.kill(event["host_pid"], 0)),
        "write_base": attempt(lambda: write("/usr/evil")),
        "write_handler": attempt(lambda: write("/handler/evil")),
        "write_scratch": attempt(lambda: write("/host/ok")),
        "write_tmp": attempt(lambda: write("/tmp/ok")),
        "chroot_escape": attempt(lambda: os.chroot("/tmp")),
        "read_shadow": attempt(lambda: open("/etc/shadow").read()),
    }
"#;

/// Runs the isolation probe (`PROBE`) in `c` and checks every answer: the
/// same checks for fresh and Zygote-forked handlers. `foreign_pid` is a
/// process outside the container (the executor, or the Zygote it was
/// forked from) that the handler must not be able to see.
pub fn check_isolated(
    ex: &mut Executor,
    c: &mut Container,
    other: &mut Container,
    dir: &Path,
    foreign_pid: u32,
) -> TestResult {
    let secret = dir.join("host-secret");
    std::fs::write(&secret, "secret").map_err(|e| e.to_string())?;
    let event = serde_json::json!({
        "secret": secret,
        "other_scratch": other.scratch,
        "host_pid": foreign_pid,
    });
    let r = ex
        .invoke(c, &event.to_string(), T)
        .map_err(|e| e.to_string())?;
    let v: serde_json::Value =
        serde_json::from_str(&r.body).map_err(|e| format!("{e}: {}", r.body))?;
    let expect = serde_json::json!({
        "uid": 65534,
        "pid": 1,
        "hostname": "sock",
        "host_secret_visible": false,
        "host_secret_via_dotdot": false,
        "other_scratch_visible": false,
        "signal_host_pid": "ProcessLookupError",
        "write_base": "OSError",
        "write_handler": "OSError",
        "write_scratch": "allowed",
        "write_tmp": "allowed",
        "chroot_escape": "PermissionError",
        "read_shadow": "PermissionError",
    });
    // Read-only file systems raise OSError(EROFS); accept PermissionError too.
    let mut got = v.clone();
    for k in ["write_base", "write_handler"] {
        if got[k] == "PermissionError" {
            got[k] = "OSError".into();
        }
    }
    check(
        got == expect,
        format!("isolation probe:\n got  {v}\n want {expect}"),
    )?;
    check(
        c.scratch.join("ok").exists(),
        "the container's own scratch is its /host",
    )?;
    check(
        ex.invoke(other, "0", T).map_err(|e| e.to_string())?.status == 200,
        "other container fine",
    )
}

/// How many cycles a leak test runs: the number in `var`
/// (`SOCK_LEAK_CYCLES`, `SOCK_SOAK_CYCLES`) if set, else `default`.
pub fn cycles_from_env(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What this test process holds: its mounts, fds and child processes
/// (zombies included), to compare before and after many cycles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Held {
    pub mounts: usize,
    pub fds: usize,
    pub children: usize,
}

impl Held {
    pub fn now() -> Held {
        Held {
            mounts: mount_count(),
            fds: fd_count(),
            children: child_count(),
        }
    }

    /// An error naming what this process holds more (or less) than then.
    pub fn check_unchanged(&self) -> TestResult {
        let now = Held::now();
        check(
            now.mounts == self.mounts,
            format!("mounts {} -> {}", self.mounts, now.mounts),
        )?;
        check(
            now.fds == self.fds,
            format!("fds {} -> {}", self.fds, now.fds),
        )?;
        check(
            now.children == self.children,
            format!("child processes {} -> {}", self.children, now.children),
        )
    }
}

/// A Zygote still holds the `fds` it held before the cycles and has
/// reaped every child it forked.
pub fn check_zygote_clean(z: &Container, fds: usize) -> TestResult {
    let pid = z.init.as_raw();
    let now = fds_of(pid);
    check(now == fds, format!("Zygote fds: {fds} -> {now}"))?;
    check(zombies_of(pid) == 0, "Zygote zombies")
}

/// `cycles` create/destroy cycles (every tenth one invoked) in one
/// executor, then checks that nothing leaked: this process's mounts, fds,
/// child processes (zombies included) and the cgroups below the case's
/// prefix are what they were after a warm-up cycle, and shutdown leaves
/// no cgroup and no mount. With `asynchronous`, each destroy is
/// [`Executor::destroy_async`], the queue never exceeds its bound, and the
/// counts are compared once the queued teardowns are drained.
pub fn cycles_leak_nothing(
    dir: &Path,
    case: &str,
    cycles: usize,
    asynchronous: bool,
) -> TestResult {
    let mounts0 = mount_count();
    let mut ex = executor(dir, case);
    let bound = ex.config.max_pending_teardowns;
    let spec = handler(dir, "h", ECHO);
    let destroy = |ex: &mut Executor, c: Container| {
        if asynchronous {
            ex.destroy_async(c)
        } else {
            ex.destroy(c)
        }
    };
    // Warm up once, then take the baseline.
    let c = ex.create(&spec).map_err(|e| e.to_string())?;
    destroy(&mut ex, c).map_err(|e| e.to_string())?;
    ex.drain_teardowns().map_err(|e| e.to_string())?;
    let held = Held::now();
    let cgroups = ex.backend().list_below(&prefix(case)).len();
    for i in 0..cycles {
        let mut c = ex.create(&spec).map_err(|e| format!("cycle {i}: {e}"))?;
        if i % 10 == 0 {
            let r = ex
                .invoke(&mut c, "1", T)
                .map_err(|e| format!("cycle {i}: {e}"))?;
            check(r.status == 200, format!("cycle {i}: status {}", r.status))?;
        }
        destroy(&mut ex, c).map_err(|e| format!("cycle {i}: {e}"))?;
        check(
            ex.pending_teardowns() <= bound,
            format!("cycle {i}: {} teardowns queued", ex.pending_teardowns()),
        )?;
        if asynchronous && i % 7 == 0 {
            ex.collect_teardowns()
                .map_err(|e| format!("cycle {i}: {e}"))?;
        }
    }
    ex.drain_teardowns().map_err(|e| e.to_string())?;
    held.check_unchanged()?;
    let now = ex.backend().list_below(&prefix(case)).len();
    check(now == cgroups, format!("cgroups {cgroups} -> {now}"))?;
    let backend = ex.backend().clone();
    ex.shutdown().map_err(|e| e.to_string())?;
    check(
        backend.list_below(&prefix(case)).is_empty(),
        "shutdown removes the pool",
    )?;
    check(
        mount_count() == mounts0,
        format!("after shutdown: mounts {} -> {}", mounts0, mount_count()),
    )
}
