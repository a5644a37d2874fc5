//! Privileged tests of lean containers: lifecycle, failing handlers,
//! limits, isolation, leaks over 1,000 cycles, crash recovery.
//! Runs as root (CI); see `common.rs` for skipping rules.
//!
//! (One file on purpose: one lean-container lifecycle, from create to
//! crash recovery, over the shared `common` set-up.)

mod common;

use common::*;
use sock_exec::container::{ExecutorConfig, InvokeError, State};
use sock_exec::sys::process;
use std::path::Path;
use std::time::Duration;

fn main() {
    run_cases(
        "containers",
        &[
            (
                "lifecycle_invoke_pause_resume",
                lifecycle_invoke_pause_resume,
            ),
            (
                "handler_error_returns_500_and_keeps_serving",
                handler_error_returns_500_and_keeps_serving,
            ),
            (
                "unreadable_handler_folder_is_a_clear_error",
                unreadable_handler_folder_is_a_clear_error,
            ),
            (
                "timeout_kills_only_that_container",
                timeout_kills_only_that_container,
            ),
            (
                "memory_limit_kills_only_that_container",
                memory_limit_kills_only_that_container,
            ),
            (
                "fork_bomb_stops_at_pids_limit",
                fork_bomb_stops_at_pids_limit,
            ),
            ("handler_is_isolated", handler_is_isolated),
            ("no_leaks_after_many_cycles", no_leaks_after_many_cycles),
            (
                "crash_leaves_state_the_next_start_cleans",
                crash_leaves_state_the_next_start_cleans,
            ),
            (
                "init_failure_names_its_step_and_leaves_nothing",
                init_failure_names_its_step_and_leaves_nothing,
            ),
            (
                "fd_placement_survives_sources_on_targets",
                fd_placement_survives_sources_on_targets,
            ),
            (
                "second_executor_on_a_live_state_is_refused",
                second_executor_on_a_live_state_is_refused,
            ),
            (
                "recovery_touches_only_its_own_prefix",
                recovery_touches_only_its_own_prefix,
            ),
        ],
    );
}

fn lifecycle_invoke_pause_resume(dir: &Path) -> TestResult {
    let mut ex = executor(dir, "lifecycle");
    let spec = handler(dir, "h", ECHO);
    let mut c = ex.create(&spec).map_err(|e| e.to_string())?;
    let r = ex
        .invoke(&mut c, r#"{"a": [1, 2.5, "x", null, true]}"#, T)
        .map_err(|e| e.to_string())?;
    check(r.status == 200, format!("status {}", r.status))?;
    check(
        r.body == r#"{"echo":{"a":[1,2.5,"x",null,true]}}"#,
        format!("body {}", r.body),
    )?;
    ex.pause(&mut c).map_err(|e| e.to_string())?;
    check(
        matches!(
            ex.invoke(&mut c, "{}", T),
            Err(InvokeError::NotRunning {
                state: State::Paused,
                ..
            })
        ),
        "a paused container must refuse to serve",
    )?;
    ex.resume(&mut c).map_err(|e| e.to_string())?;
    let r = ex.invoke(&mut c, "7", T).map_err(|e| e.to_string())?;
    check(
        r.body == r#"{"echo":7}"#,
        format!("after resume: {}", r.body),
    )?;
    ex.destroy(c).map_err(|e| e.to_string())?;
    // A paused container can be destroyed directly.
    let mut p = ex.create(&spec).map_err(|e| e.to_string())?;
    ex.pause(&mut p).map_err(|e| e.to_string())?;
    let cg = p.cgroup.clone();
    ex.destroy(p).map_err(|e| e.to_string())?;
    check(
        ex.backend()
            .procs(&cg)
            .map_err(|e| e.to_string())?
            .is_empty(),
        "paused container's processes are gone",
    )?;
    ex.shutdown().map_err(|e| e.to_string())
}

fn handler_error_returns_500_and_keeps_serving(dir: &Path) -> TestResult {
    let mut ex = executor(dir, "error");
    let spec = handler(dir, "h", "def f(event):\n    if event == 'boom':\n        raise ValueError('boom!')\n    return 'fine'\n");
    let mut c = ex.create(&spec).map_err(|e| e.to_string())?;
    let r = ex
        .invoke(&mut c, r#""boom""#, T)
        .map_err(|e| e.to_string())?;
    check(
        r.status == 500 && r.body.contains("ValueError: boom!"),
        format!("{} {}", r.status, r.body),
    )?;
    let r = ex.invoke(&mut c, r#""ok""#, T).map_err(|e| e.to_string())?;
    check(
        r.status == 200 && r.body == r#""fine""#,
        format!("after error: {} {}", r.status, r.body),
    )?;
    let r = ex
        .invoke(&mut c, "{not json", T)
        .map_err(|e| e.to_string())?;
    check(
        r.status == 400,
        format!("bad JSON: {} {}", r.status, r.body),
    )?;
    ex.destroy(c).map_err(|e| e.to_string())?;
    // A handler that does not even load still gets a clear 500.
    let spec = handler(dir, "broken", "def f(event) syntax error\n");
    let mut c = ex.create(&spec).map_err(|e| e.to_string())?;
    let r = ex.invoke(&mut c, "{}", T).map_err(|e| e.to_string())?;
    check(
        r.status == 500 && r.body.contains("SyntaxError"),
        format!("broken: {} {}", r.status, r.body),
    )?;
    ex.destroy(c).map_err(|e| e.to_string())?;
    ex.shutdown().map_err(|e| e.to_string())
}

fn unreadable_handler_folder_is_a_clear_error(dir: &Path) -> TestResult {
    use std::os::unix::fs::PermissionsExt;
    let mut ex = executor(dir, "perms");
    let spec = handler(dir, "h", ECHO);
    std::fs::set_permissions(&spec.handler_dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| e.to_string())?;
    let e = ex
        .create(&spec)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    check(e.contains("chmod o+rx"), format!("error was {e:?}"))?;
    check(
        mounts_under(ex.containers_dir()) == 1,
        "a failed create must undo its mounts",
    )?;
    ex.shutdown().map_err(|e| e.to_string())
}

/// Our children that exited and were not reaped.
fn zombie_children() -> usize {
    let me = std::process::id().to_string();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| {
            // pid (comm) state ppid ...: comm may hold spaces; split after ')'.
            let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
            let mut f = rest.split_whitespace();
            f.next() == Some("Z") && f.next() == Some(me.as_str())
        })
        .count()
}

/// The init is cloned sharing the executor's memory and reports a failing
/// step through it: an interpreter that cannot be exec'd is a clear error
/// naming the step and the path, the child is reaped, the mounts undone,
/// and the executor still starts the next container.
fn init_failure_names_its_step_and_leaves_nothing(dir: &Path) -> TestResult {
    let mut config = ExecutorConfig::new(dir.join("state-badpy"), base_root());
    config.cgroup_prefix = prefix("badpy");
    config.pool_size = 1;
    config.python = "/nonexistent/python3".into();
    let mut ex = sock_exec::container::Executor::new(config).map_err(|e| e.to_string())?;
    let spec = handler(dir, "h", ECHO);
    let before = zombie_children();
    let e = ex
        .create(&spec)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    check(
        e.contains("execve /nonexistent/python3") && e.contains("ENOENT"),
        format!("error was {e:?}"),
    )?;
    check(
        zombie_children() == before,
        "the failed init must be reaped",
    )?;
    check(
        mounts_under(ex.containers_dir()) == 1,
        "a failed create must undo its mounts",
    )?;
    ex.shutdown().map_err(|e| e.to_string())?;
    let mut ex = executor(dir, "badpy-after");
    let mut c = ex.create(&spec).map_err(|e| e.to_string())?;
    let r = ex
        .invoke(&mut c, "{}", Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    check(
        r.status == 200,
        format!("after a failed init: {}", r.status),
    )?;
    ex.destroy(c).map_err(|e| e.to_string())?;
    ex.shutdown().map_err(|e| e.to_string())
}

fn timeout_kills_only_that_container(dir: &Path) -> TestResult {
    let mut ex = executor(dir, "timeout");
    let slow = handler(
        dir,
        "slow",
        "import time\ndef f(event):\n    time.sleep(60)\n",
    );
    let fast = handler(dir, "fast", ECHO);
    let mut a = ex.create(&slow).map_err(|e| e.to_string())?;
    let mut b = ex.create(&fast).map_err(|e| e.to_string())?;
    let r = ex.invoke(&mut a, "{}", Duration::from_millis(500));
    check(
        matches!(r, Err(InvokeError::Timeout(_))),
        format!("expected a timeout, got {r:?}"),
    )?;
    check(a.state == State::Dead, "timed-out container is dead")?;
    check(
        ex.backend()
            .procs(&a.cgroup)
            .map_err(|e| e.to_string())?
            .is_empty(),
        "its processes are gone",
    )?;
    let r = ex.invoke(&mut b, "1", T).map_err(|e| e.to_string())?;
    check(r.status == 200, "the other container still serves")?;
    ex.destroy(a).map_err(|e| e.to_string())?;
    ex.destroy(b).map_err(|e| e.to_string())?;
    ex.shutdown().map_err(|e| e.to_string())
}

fn memory_limit_kills_only_that_container(dir: &Path) -> TestResult {
    let mut ex = executor(dir, "memory");
    // 512 MB of written bytes against a 96 MB limit.
    let hog = handler(
        dir,
        "hog",
        "def f(event):\n    b = b'x' * (512 << 20)\n    return len(b)\n",
    );
    let fast = handler(dir, "fast", ECHO);
    let mut a = ex.create(&hog).map_err(|e| e.to_string())?;
    let mut b = ex.create(&fast).map_err(|e| e.to_string())?;
    let r = ex.invoke(&mut a, "{}", T);
    let killed = matches!(r, Err(InvokeError::Died))
        || matches!(&r, Ok(x) if x.status == 500 && x.body.contains("MemoryError"));
    check(killed, format!("expected an OOM kill, got {r:?}"))?;
    let r = ex.invoke(&mut b, "2", T).map_err(|e| e.to_string())?;
    check(r.status == 200, "the other container still serves")?;
    ex.destroy(a).map_err(|e| e.to_string())?;
    ex.destroy(b).map_err(|e| e.to_string())?;
    ex.shutdown().map_err(|e| e.to_string())
}

fn fork_bomb_stops_at_pids_limit(dir: &Path) -> TestResult {
    let mut ex = executor(dir, "forkbomb");
    let bomb = handler(
        dir,
        "bomb",
        "import os, time\ndef f(event):\n    n = 0\n    try:\n        while n < 10000:\n            if os.fork() == 0:\n                time.sleep(60)\n                os._exit(0)\n            n += 1\n    except OSError as e:\n        return {'forks': n, 'errno': e.errno}\n    return {'forks': n}\n",
    );
    let mut a = ex.create(&bomb).map_err(|e| e.to_string())?;
    let r = ex.invoke(&mut a, "{}", T).map_err(|e| e.to_string())?;
    let v: serde_json::Value =
        serde_json::from_str(&r.body).map_err(|e| format!("{e}: {}", r.body))?;
    let forks = v["forks"].as_u64().unwrap_or(u64::MAX);
    check(
        forks < 32 && v["errno"] == 11,
        format!("pids limit 32 should stop the bomb: {v}"),
    )?;
    ex.destroy(a).map_err(|e| e.to_string())?;
    let mut b = ex
        .create(&handler(dir, "fast", ECHO))
        .map_err(|e| e.to_string())?;
    check(
        ex.invoke(&mut b, "3", T).map_err(|e| e.to_string())?.status == 200,
        "executor keeps serving",
    )?;
    ex.destroy(b).map_err(|e| e.to_string())?;
    ex.shutdown().map_err(|e| e.to_string())
}

fn handler_is_isolated(dir: &Path) -> TestResult {
    let mut ex = executor(dir, "isolation");
    let mut other = ex
        .create(&handler(dir, "other", ECHO))
        .map_err(|e| e.to_string())?;
    let mut c = ex
        .create(&handler(dir, "probe", PROBE))
        .map_err(|e| e.to_string())?;
    check_isolated(&mut ex, &mut c, &mut other, dir, std::process::id())?;
    ex.destroy(c).map_err(|e| e.to_string())?;
    ex.destroy(other).map_err(|e| e.to_string())?;
    ex.shutdown().map_err(|e| e.to_string())
}

fn mounts_under(dir: &Path) -> usize {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    sock_exec::container::mounts_below(&info, dir).len()
}

fn no_leaks_after_many_cycles(dir: &Path) -> TestResult {
    cycles_leak_nothing(
        dir,
        "leaks",
        cycles_from_env("SOCK_LEAK_CYCLES", 1000),
        false,
    )
}

fn crash_leaves_state_the_next_start_cleans(dir: &Path) -> TestResult {
    let spec = handler(dir, "h", ECHO);
    let (r, w) = sock_exec::sys::fs::pipe().map_err(|e| e.to_string())?;
    match process::fork().map_err(|e| e.to_string())? {
        process::ForkResult::Child => {
            drop(r);
            // The "executor" that will crash: two live containers, then wait to be killed.
            let mut ex = executor(dir, "crash");
            let a = ex.create(&spec);
            let b = ex.create(&spec);
            let ok = a.is_ok() && b.is_ok();
            let _ = nix::unistd::write(&w, if ok { b"y" } else { b"n" });
            std::thread::sleep(Duration::from_secs(60));
            process::exit_now(0)
        }
        process::ForkResult::Parent { child } => {
            drop(w);
            let mut got = [0u8; 1];
            nix::unistd::read(std::os::fd::AsRawFd::as_raw_fd(&r), &mut got)
                .map_err(|e| e.to_string())?;
            let _ = process::kill(child, nix::sys::signal::Signal::SIGKILL);
            process::wait(child).map_err(|e| e.to_string())?;
            check(&got == b"y", "the crashing executor made its containers")?;
        }
    }
    let state = dir.join("state/containers");
    check(
        mounts_under(&state) >= 9,
        format!("the crash left mounts ({})", mounts_under(&state)),
    )?;
    let mut config = ExecutorConfig::new(dir.join("state"), base_root());
    config.cgroup_prefix = prefix("crash");
    config.pool_size = 2;
    let mut ex = sock_exec::container::Executor::new(config).map_err(|e| e.to_string())?;
    let rec = ex.recovered.clone();
    check(
        rec.mounts >= 9 && rec.cgroups >= 2 && rec.dirs >= 2,
        format!("recovery found {rec:?}"),
    )?;
    check(
        mounts_under(&state) == 1,
        "only the fresh private mount is left",
    )?;
    let mut c = ex.create(&spec).map_err(|e| e.to_string())?;
    check(
        ex.invoke(&mut c, "5", T).map_err(|e| e.to_string())?.status == 200,
        "serves after recovery",
    )?;
    ex.destroy(c).map_err(|e| e.to_string())?;
    ex.shutdown().map_err(|e| e.to_string())?;
    check(mounts_under(&state) == 0, "nothing left after shutdown")
}

/// Issue 12: a fresh container's init `dup2`ed its sources onto 0-3 in
/// order, so a source already sitting on a lower target (the listening
/// socket on fd 0, say, when the executor runs with stdin closed) was
/// overwritten before it was placed. Checked in a forked child, whose fds
/// can be rearranged freely.
fn fd_placement_survives_sources_on_targets(_dir: &Path) -> TestResult {
    use nix::sys::stat::fstat;
    use std::os::fd::AsRawFd;
    match process::fork().map_err(|e| e.to_string())? {
        process::ForkResult::Child => {
            // Free fd 0, so the pipe's read end lands there.
            let _ = nix::unistd::close(0);
            let ok = (|| -> Result<bool, String> {
                let (r, _w) = sock_exec::sys::fs::pipe().map_err(|e| e.to_string())?;
                let null = std::fs::File::open("/dev/null").map_err(|e| e.to_string())?;
                let ino = |fd: i32| fstat(fd).map(|s| s.st_ino).map_err(|e| e.to_string());
                let (pipe_ino, null_ino) = (ino(r.as_raw_fd())?, ino(null.as_raw_fd())?);
                // /dev/null to 0 (where the pipe sits), the pipe to 3.
                sock_exec::sys::fs::place_fds(&[(null.as_raw_fd(), 0), (r.as_raw_fd(), 3)])
                    .map_err(|e| e.to_string())?;
                Ok(ino(0)? == null_ino && ino(3)? == pipe_ino)
            })();
            process::exit_now(match ok {
                Ok(true) => 0,
                Ok(false) => 1,
                Err(_) => 2,
            })
        }
        process::ForkResult::Parent { child } => {
            let status = process::wait(child).map_err(|e| e.to_string())?;
            check(
                status == nix::sys::wait::WaitStatus::Exited(child, 0),
                format!("fd 3 must hold the source placed there, not a clobbered copy: {status:?}"),
            )
        }
    }
}

/// Issue 12: starting `install` or `calibrate` on the `--state` of a live
/// run wiped the run's containers (recovery unmounted everything below
/// `<state>/containers`). One executor per state folder now: the second
/// is refused with the folder and the holder's pid.
fn second_executor_on_a_live_state_is_refused(dir: &Path) -> TestResult {
    let spec = handler(dir, "h", ECHO);
    let mut ex = executor(dir, "lock-a");
    let mut c = ex.create(&spec).map_err(|e| e.to_string())?;
    let mut config = ExecutorConfig::new(dir.join("state"), base_root());
    config.cgroup_prefix = prefix("lock-b");
    config.pool_size = 1;
    match sock_exec::container::Executor::new(config) {
        Ok(second) => {
            let _ = second.shutdown();
            return Err("a second executor started on a live state folder".into());
        }
        Err(e) => {
            let msg = e.to_string();
            let state = dir.join("state");
            check(
                msg.contains(&state.display().to_string())
                    && msg.contains(&std::process::id().to_string()),
                format!("the error names the folder and the holder's pid: {msg}"),
            )?;
        }
    }
    let r = ex.invoke(&mut c, "7", T).map_err(|e| e.to_string())?;
    check(
        r.status == 200,
        format!("the live container still serves: {r:?}"),
    )?;
    ex.destroy(c).map_err(|e| e.to_string())?;
    ex.shutdown().map_err(|e| e.to_string())
}

/// A crashed executor's leftovers (prefix A) survive the recovery of an
/// executor with another prefix (B) on the same state folder; A's own next
/// start cleans them.
fn recovery_touches_only_its_own_prefix(dir: &Path) -> TestResult {
    let spec = handler(dir, "h", ECHO);
    let (r, w) = sock_exec::sys::fs::pipe().map_err(|e| e.to_string())?;
    match process::fork().map_err(|e| e.to_string())? {
        process::ForkResult::Child => {
            drop(r);
            let mut ex = executor(dir, "scope-a");
            let ok = ex.create(&spec).is_ok();
            let _ = nix::unistd::write(&w, if ok { b"y" } else { b"n" });
            std::thread::sleep(Duration::from_secs(60));
            process::exit_now(0)
        }
        process::ForkResult::Parent { child } => {
            drop(w);
            let mut got = [0u8; 1];
            nix::unistd::read(std::os::fd::AsRawFd::as_raw_fd(&r), &mut got)
                .map_err(|e| e.to_string())?;
            let _ = process::kill(child, nix::sys::signal::Signal::SIGKILL);
            process::wait(child).map_err(|e| e.to_string())?;
            check(&got == b"y", "the crashing executor made its container")?;
        }
    }
    let mounts = mount_count();
    let b = executor(dir, "scope-b");
    check(
        b.recovered == Default::default(),
        format!("B recovered someone else's leftovers: {:?}", b.recovered),
    )?;
    let a_cgroups = b.backend().list_below(&prefix("scope-a")).len();
    check(
        a_cgroups >= 2,
        format!("A's cgroups are left alone ({a_cgroups})"),
    )?;
    b.shutdown().map_err(|e| e.to_string())?;
    check(
        mount_count() == mounts,
        format!("A's mounts are left alone: {mounts} -> {}", mount_count()),
    )?;
    let a = executor(dir, "scope-a");
    let rec = a.recovered.clone();
    check(
        rec.cgroups >= 2 && rec.dirs >= 1 && rec.mounts >= 5,
        format!("A's next start cleans its own leftovers: {rec:?}"),
    )?;
    let backend = a.backend().clone();
    a.shutdown().map_err(|e| e.to_string())?;
    check(
        mount_count() == 0,
        format!("mounts left: {}", mount_count()),
    )?;
    check(
        backend.list_below(&prefix("scope-a")).is_empty(),
        "no cgroups left",
    )
}
