//! Privileged tests of Zygotes on real processes: forking handlers and
//! child Zygotes into new lean containers, isolation of forked handlers,
//! error reporting, no zombies, Zygote death. Runs as root (CI); see
//! `common/mod.rs` for skipping rules.

mod common;

use common::*;
use sock_exec::container::{ContainerSpec, Role, State};
use sock_exec::zygote::ForkError;
use std::path::Path;

fn main() {
    run_cases(
        "zygote",
        &[
            ("fork_serves_like_fresh", fork_serves_like_fresh),
            ("forked_handler_is_isolated", forked_handler_is_isolated),
            ("child_zygote_forks_too", child_zygote_forks_too),
            ("errors_are_reported_not_lost", errors_are_reported_not_lost),
            (
                "children_outlive_their_zygote",
                children_outlive_their_zygote,
            ),
            ("no_leaks_after_many_forks", no_leaks_after_many_forks),
        ],
    );
}

fn fork_serves_like_fresh(dir: &Path) -> TestResult {
    let mut ex = executor(dir, "zfork");
    let z = root_zygote(&mut ex)?;
    let spec = handler(dir, "h", ECHO);
    let (mut c, report) = ex
        .fork_from(&z, &spec, Role::Handler, T)
        .map_err(|e| e.to_string())?;
    check(report.load_error.is_none(), format!("{report:?}"))?;
    check(report.join <= report.total, format!("{report:?}"))?;
    let r = ex
        .invoke(&mut c, r#"{"a":1}"#, T)
        .map_err(|e| e.to_string())?;
    check(r.status == 200, format!("status {}", r.status))?;
    check(r.body == r#"{"echo":{"a":1}}"#, format!("body {}", r.body))?;
    // Pause and resume work on a forked handler as on a fresh one.
    ex.pause(&mut c).map_err(|e| e.to_string())?;
    ex.resume(&mut c).map_err(|e| e.to_string())?;
    let r = ex.invoke(&mut c, "2", T).map_err(|e| e.to_string())?;
    check(r.body == r#"{"echo":2}"#, format!("body {}", r.body))?;
    check(zombies_of(z.init.as_raw()) == 0, "the Zygote left a zombie")?;
    ex.destroy(c).map_err(|e| e.to_string())?;
    ex.destroy(z).map_err(|e| e.to_string())?;
    ex.shutdown().map_err(|e| e.to_string())
}

fn forked_handler_is_isolated(dir: &Path) -> TestResult {
    let mut ex = executor(dir, "zisolation");
    let z = root_zygote(&mut ex)?;
    let mut other = ex
        .fork_from(&z, &handler(dir, "other", ECHO), Role::Handler, T)
        .map_err(|e| e.to_string())?
        .0;
    let mut c = ex
        .fork_from(&z, &handler(dir, "probe", PROBE), Role::Handler, T)
        .map_err(|e| e.to_string())?
        .0;
    // The same checks as a fresh container, against the executor ...
    check_isolated(&mut ex, &mut c, &mut other, dir, std::process::id())?;
    // ... and against the Zygote it came from.
    check_isolated(&mut ex, &mut c, &mut other, dir, z.init.as_raw() as u32)?;
    // Its processes are charged to its own cgroup, not the Zygote's.
    let procs = ex.backend().procs(&c.cgroup).map_err(|e| e.to_string())?;
    check(
        procs == vec![c.init],
        format!("handler cgroup holds {procs:?}"),
    )?;
    let zprocs = ex.backend().procs(&z.cgroup).map_err(|e| e.to_string())?;
    check(
        zprocs == vec![z.init],
        format!("Zygote cgroup holds {zprocs:?}"),
    )?;
    for c in [c, other, z] {
        ex.destroy(c).map_err(|e| e.to_string())?;
    }
    ex.shutdown().map_err(|e| e.to_string())
}

fn child_zygote_forks_too(dir: &Path) -> TestResult {
    let mut ex = executor(dir, "zchild");
    let z = root_zygote(&mut ex)?;
    // A child Zygote that imports a stdlib module the root lacks.
    let zspec = ContainerSpec {
        imports: vec!["fractions".into()],
        ..ContainerSpec::default()
    };
    let (z2, _) = ex
        .fork_from(&z, &zspec, Role::Zygote, T)
        .map_err(|e| e.to_string())?;
    let info = ex.ping(&z2, T).map_err(|e| e.to_string())?;
    check(
        info.modules == vec!["fractions".to_string()],
        format!("{info:?}"),
    )?;
    check(
        info.pid == z2.init.as_raw(),
        format!("{info:?} vs {:?}", z2.init),
    )?;
    let src = "import sys\ndef f(event):\n    return {'had': 'fractions' in sys.modules}\n";
    let (mut c, report) = ex
        .fork_from(&z2, &handler(dir, "h", src), Role::Handler, T)
        .map_err(|e| e.to_string())?;
    let r = ex.invoke(&mut c, "0", T).map_err(|e| e.to_string())?;
    check(r.body == r#"{"had":true}"#, format!("body {}", r.body))?;
    check(
        report.import_us == 0 || report.import_us < 5_000,
        format!("{report:?}"),
    )?;
    for c in [c, z2, z] {
        ex.destroy(c).map_err(|e| e.to_string())?;
    }
    ex.shutdown().map_err(|e| e.to_string())
}

fn errors_are_reported_not_lost(dir: &Path) -> TestResult {
    let mut ex = executor(dir, "zerrors");
    let z = root_zygote(&mut ex)?;
    // A handler whose import fails: the fork succeeds, requests get 500.
    let mut spec = handler(dir, "h", ECHO);
    spec.imports = vec!["no_such_module_xyz".into()];
    let (mut c, report) = ex
        .fork_from(&z, &spec, Role::Handler, T)
        .map_err(|e| e.to_string())?;
    let err = report.load_error.clone().unwrap_or_default();
    check(err.contains("no_such_module_xyz"), format!("{report:?}"))?;
    let r = ex.invoke(&mut c, "0", T).map_err(|e| e.to_string())?;
    check(
        r.status == 500 && r.body.contains("no_such_module_xyz"),
        format!("{} {}", r.status, r.body),
    )?;
    ex.destroy(c).map_err(|e| e.to_string())?;
    // A child Zygote whose import fails is an error, and nothing is left.
    let mounts = mount_count();
    let zspec = ContainerSpec {
        imports: vec!["no_such_module_xyz".into()],
        ..ContainerSpec::default()
    };
    match ex.fork_from(&z, &zspec, Role::Zygote, T) {
        Err(ForkError::Child { stage, error }) => check(
            stage == "import" && error.contains("no_such_module_xyz"),
            format!("{stage}: {error}"),
        )?,
        other => return Err(format!("expected a child error, got {other:?}")),
    }
    check(mount_count() == mounts, "a failed fork left mounts")?;
    // The Zygote survives both and still forks.
    let (mut c, _) = ex
        .fork_from(&z, &handler(dir, "h2", ECHO), Role::Handler, T)
        .map_err(|e| e.to_string())?;
    check(
        ex.invoke(&mut c, "1", T).map_err(|e| e.to_string())?.status == 200,
        "Zygote still forks",
    )?;
    ex.destroy(c).map_err(|e| e.to_string())?;
    // A dead Zygote is a typed error, not a hang.
    let zpid = z.init;
    ex.destroy(z).map_err(|e| e.to_string())?;
    let z_dead = root_zygote(&mut ex)?;
    let _ = sock_exec::sys::process::kill(z_dead.init, nix::sys::signal::Signal::SIGKILL);
    let _ = sock_exec::sys::process::wait_reaped(z_dead.init);
    match ex.fork_from(&z_dead, &handler(dir, "h3", ECHO), Role::Handler, T) {
        Err(ForkError::Unreachable { .. }) | Err(ForkError::Closed(..)) => {}
        other => return Err(format!("expected unreachable, got {other:?} ({zpid})")),
    }
    check(mount_count() == mounts, "a failed fork left mounts")?;
    ex.destroy(z_dead).map_err(|e| e.to_string())?;
    ex.shutdown().map_err(|e| e.to_string())
}

fn children_outlive_their_zygote(dir: &Path) -> TestResult {
    let mut ex = executor(dir, "zoutlive");
    let z = root_zygote(&mut ex)?;
    let (mut c, _) = ex
        .fork_from(&z, &handler(dir, "h", ECHO), Role::Handler, T)
        .map_err(|e| e.to_string())?;
    ex.destroy(z).map_err(|e| e.to_string())?;
    let r = ex.invoke(&mut c, "3", T).map_err(|e| e.to_string())?;
    check(r.status == 200, format!("status {}", r.status))?;
    check(c.state == State::Running, "handler alive")?;
    ex.destroy(c).map_err(|e| e.to_string())?;
    ex.shutdown().map_err(|e| e.to_string())
}

fn no_leaks_after_many_forks(dir: &Path) -> TestResult {
    let cycles = cycles_from_env("SOCK_LEAK_CYCLES", 300);
    let mut ex = executor(dir, "zleaks");
    let z = root_zygote(&mut ex)?;
    let spec = handler(dir, "h", ECHO);
    let (c, _) = ex
        .fork_from(&z, &spec, Role::Handler, T)
        .map_err(|e| e.to_string())?;
    ex.destroy(c).map_err(|e| e.to_string())?;
    let held = Held::now();
    let zfds = fds_of(z.init.as_raw());
    for i in 0..cycles {
        let (mut c, _) = ex
            .fork_from(&z, &spec, Role::Handler, T)
            .map_err(|e| format!("cycle {i}: {e}"))?;
        let r = ex.invoke(&mut c, "0", T).map_err(|e| e.to_string())?;
        check(r.status == 200, format!("cycle {i}: status {}", r.status))?;
        ex.destroy(c).map_err(|e| e.to_string())?;
    }
    held.check_unchanged()?;
    check_zygote_clean(&z, zfds)?;
    ex.destroy(z).map_err(|e| e.to_string())?;
    ex.shutdown().map_err(|e| e.to_string())
}
