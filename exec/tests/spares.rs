//! Privileged tests of pre-forked Zygote children (spares, issue 9): a
//! spare joins the pooled cgroup reserved for it at refill time, so a hit
//! through it pays no cgroup join; the cgroup is the container's, and it
//! goes back to the pool when the container, a killed spare or the
//! Zygote is gone; 300 refill + hit cycles leak nothing. Runs as root
//! (CI); see `common/mod.rs` for skipping rules.

mod common;

use common::*;
use nix::sys::signal::Signal;
use sock_exec::cgroup::Cgroup;
use sock_exec::container::{Container, ContainerSpec, Executor, Role};
use sock_exec::sys::process;
use sock_exec::zygote::Spare;
use std::path::Path;
use std::time::{Duration, Instant};

fn main() {
    run_cases(
        "spares",
        &[
            (
                "spare_is_prejoined_and_serves",
                spare_is_prejoined_and_serves,
            ),
            ("killed_spare_is_cleaned_up", killed_spare_is_cleaned_up),
            (
                "zygote_death_returns_spare_cgroups",
                zygote_death_returns_spare_cgroups,
            ),
            ("child_zygote_has_no_spares", child_zygote_has_no_spares),
            (
                "no_leaks_after_many_spare_hits",
                no_leaks_after_many_spare_hits,
            ),
        ],
    );
}

fn e(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// One refill; returns the spare the executor now tracks for it.
fn refill(ex: &mut Executor, z: &Container) -> Result<Spare, String> {
    let (pid, _) = ex.refill(z, T).map_err(e)?;
    ex.spares_of(z)
        .into_iter()
        .find(|s| s.pid.as_raw() == pid)
        .ok_or_else(|| format!("spare {pid} is not tracked"))
}

/// Pool cgroups in use: by containers (the Zygote's included) or
/// reserved by spares.
fn in_use(ex: &Executor) -> usize {
    let (size, free) = ex.pool_counts();
    size - free
}

fn procs(ex: &Executor, cg: &Cgroup) -> Result<Vec<i32>, String> {
    Ok(ex
        .backend()
        .procs(cg)
        .map_err(e)?
        .iter()
        .map(|p| p.as_raw())
        .collect())
}

/// The spare is in its reserved cgroup in every hierarchy the executor
/// joins (one `cgroup.procs` per v1 hierarchy, one on v2).
fn check_prejoined(ex: &Executor, s: &Spare) -> TestResult {
    let pid = s.pid.as_raw();
    check(
        procs(ex, &s.cgroup)?.contains(&pid),
        format!("spare {pid} is not in {:?}'s cgroup.procs", s.cgroup.rel),
    )?;
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).map_err(e)?;
    let want = format!("/{}", s.cgroup.rel.display());
    let inside = text.lines().filter(|l| l.ends_with(&want)).count();
    let files = ex.backend().join_files(&s.cgroup).len();
    check(
        inside >= files,
        format!("spare {pid} is in {inside} of {files} hierarchies: {text}"),
    )
}

/// Waits until `pid` has left `cg` (a killed spare: its Zygote reaps it).
fn wait_gone(ex: &Executor, cg: &Cgroup, pid: i32) -> TestResult {
    let start = Instant::now();
    while procs(ex, cg)?.contains(&pid) {
        if start.elapsed() > Duration::from_secs(10) {
            return Err(format!("{pid} is still in {:?}", cg.rel));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

fn spare_is_prejoined_and_serves(dir: &Path) -> TestResult {
    let mut ex = executor(dir, "sjoin");
    let z = root_zygote(&mut ex)?;
    let mut other = ex.create(&handler(dir, "h", ECHO)).map_err(e)?;
    let used = in_use(&ex);
    let s = refill(&mut ex, &z)?;
    check(in_use(&ex) == used + 1, "refill reserves a pool cgroup")?;
    check(
        s.cgroup != z.cgroup,
        "the spare has a cgroup of its own, not its Zygote's",
    )?;
    check_prejoined(&ex, &s)?;
    check(
        matches!(ex.spares_memory(&z), (b, 0) if b > 0),
        "the spare's memory is charged to its cgroup",
    )?;
    // The hit: the spare becomes the container, in the cgroup it joined.
    let spec = handler(dir, "probe", PROBE);
    let (mut c, report) = ex.fork_with(&z, &spec, Role::Handler, true, T).map_err(e)?;
    check(report.spare, format!("served by a spare: {report:?}"))?;
    check(
        c.init == s.pid,
        format!("init {} is the spare {}", c.init, s.pid),
    )?;
    check(
        c.cgroup == s.cgroup,
        "the container's cgroup is the spare's",
    )?;
    check(
        ex.spares_of(&z).is_empty(),
        "the spare is no longer a spare",
    )?;
    check(
        report.steps.iter().any(|(n, _)| n == "handed")
            && report.steps.iter().any(|(n, _)| n == "cgroup"),
        format!("steps {:?}", report.steps),
    )?;
    check_isolated(&mut ex, &mut c, &mut other, dir, z.init.as_raw() as u32)?;
    check(
        procs(&ex, &c.cgroup)? == vec![s.pid.as_raw()],
        "only the handler is in its cgroup",
    )?;
    // Destroy returns the cgroup, empty, to the pool.
    let cg = c.cgroup.clone();
    ex.destroy(c).map_err(e)?;
    check(procs(&ex, &cg)?.is_empty(), "destroyed: cgroup empty")?;
    check(
        in_use(&ex) == used,
        format!("in use {used} -> {}", in_use(&ex)),
    )?;
    ex.destroy(other).map_err(e)?;
    ex.destroy(z).map_err(e)?;
    let (size, free) = ex.pool_counts();
    check(size == free, format!("pool {size} made, {free} free"))?;
    ex.shutdown().map_err(e)
}

fn killed_spare_is_cleaned_up(dir: &Path) -> TestResult {
    let mut ex = executor(dir, "skill");
    let z = root_zygote(&mut ex)?;
    let used = in_use(&ex);
    let a = refill(&mut ex, &z)?;
    let b = refill(&mut ex, &z)?;
    process::kill(a.pid, Signal::SIGKILL).map_err(e)?;
    wait_gone(&ex, &a.cgroup, a.pid.as_raw())?;
    check(ex.prune_spares(&z) == 1, "the killed spare is dropped")?;
    check(ex.spares_of(&z) == vec![b.clone()], "the live one stays")?;
    check(procs(&ex, &a.cgroup)?.is_empty(), "its cgroup is empty")?;
    check(in_use(&ex) == used + 1, "its cgroup is back in the pool")?;
    // Replaced: the Zygote forgot it too, and a refill makes another.
    let c = refill(&mut ex, &z)?;
    let info = ex.ping(&z, T).map_err(e)?;
    check(
        info.spares == 2,
        format!("the Zygote holds {} spares", info.spares),
    )?;
    check_prejoined(&ex, &c)?;
    // The oldest live spare serves; a killed one met at a hit is skipped.
    process::kill(b.pid, Signal::SIGKILL).map_err(e)?;
    wait_gone(&ex, &b.cgroup, b.pid.as_raw())?;
    let (mut h, report) = ex
        .fork_with(&z, &handler(dir, "h", ECHO), Role::Handler, true, T)
        .map_err(e)?;
    check(
        report.spare && h.init == c.pid,
        format!("served by {} ({report:?})", h.init),
    )?;
    check(h.cgroup == c.cgroup, "in the spare's cgroup")?;
    check(
        ex.invoke(&mut h, "1", T).map_err(e)?.status == 200,
        "serves",
    )?;
    ex.destroy(h).map_err(e)?;
    check(ex.spares_of(&z).is_empty(), "no spare left")?;
    check(
        in_use(&ex) == used,
        format!("in use {used} -> {}", in_use(&ex)),
    )?;
    // With none left, a spare hit is a normal fork.
    let (h, report) = ex
        .fork_with(&z, &handler(dir, "h2", ECHO), Role::Handler, true, T)
        .map_err(e)?;
    check(!report.spare, "no spare: a fork")?;
    ex.destroy(h).map_err(e)?;
    ex.destroy(z).map_err(e)?;
    ex.shutdown().map_err(e)
}

fn zygote_death_returns_spare_cgroups(dir: &Path) -> TestResult {
    let mut ex = executor(dir, "sdeath");
    // A live Zygote destroyed with its spares.
    let z = root_zygote(&mut ex)?;
    let spares = [refill(&mut ex, &z)?, refill(&mut ex, &z)?];
    ex.destroy(z).map_err(e)?;
    for s in &spares {
        check(
            procs(&ex, &s.cgroup)?.is_empty(),
            format!("spare {} killed", s.pid),
        )?;
    }
    let (size, free) = ex.pool_counts();
    check(
        size == free,
        format!("live Zygote: pool {size} made, {free} free"),
    )?;
    // A Zygote that died (killed): its spares see EOF and exit; destroying
    // it returns their cgroups.
    let z = root_zygote(&mut ex)?;
    let spares = [refill(&mut ex, &z)?, refill(&mut ex, &z)?];
    process::kill(z.init, Signal::SIGKILL).map_err(e)?;
    ex.destroy(z).map_err(e)?;
    for s in &spares {
        check(
            procs(&ex, &s.cgroup)?.is_empty(),
            format!("spare {} gone", s.pid),
        )?;
        check(!process::is_alive(s.pid), format!("spare {} reaped", s.pid))?;
    }
    let (size, free) = ex.pool_counts();
    check(
        size == free,
        format!("dead Zygote: pool {size} made, {free} free"),
    )?;
    // Teardown with spares outstanding removes every cgroup of the prefix.
    let z = root_zygote(&mut ex)?;
    let s = refill(&mut ex, &z)?;
    let backend = ex.backend().clone();
    ex.shutdown().map_err(e)?;
    check(!process::is_alive(s.pid), "shutdown kills the spare")?;
    check(
        backend.list_below(&prefix("sdeath")).is_empty(),
        "shutdown removes every cgroup",
    )
}

/// A child Zygote forked while its parent holds spares does not take
/// them over (it forgets the inherited spare sockets); the parent's still
/// serve.
fn child_zygote_has_no_spares(dir: &Path) -> TestResult {
    let mut ex = executor(dir, "schild");
    let z = root_zygote(&mut ex)?;
    let s = refill(&mut ex, &z)?;
    let zspec = ContainerSpec {
        imports: vec!["json".into()],
        ..ContainerSpec::default()
    };
    let (child, _) = ex.fork_from(&z, &zspec, Role::Zygote, T).map_err(e)?;
    check(
        ex.ping(&child, T).map_err(e)?.spares == 0,
        "the child Zygote holds no spare",
    )?;
    check(ex.spares_of(&child).is_empty(), "none tracked for it")?;
    let (mut h, report) = ex
        .fork_with(&z, &handler(dir, "h", ECHO), Role::Handler, true, T)
        .map_err(e)?;
    check(report.spare && h.init == s.pid, "the parent's spare serves")?;
    check(
        ex.invoke(&mut h, "1", T).map_err(e)?.status == 200,
        "serves",
    )?;
    ex.destroy(h).map_err(e)?;
    ex.destroy(child).map_err(e)?;
    ex.destroy(z).map_err(e)?;
    let (size, free) = ex.pool_counts();
    check(size == free, format!("pool {size} made, {free} free"))?;
    ex.shutdown().map_err(e)
}

fn no_leaks_after_many_spare_hits(dir: &Path) -> TestResult {
    let cycles = cycles_from_env("SOCK_LEAK_CYCLES", 300);
    let mounts0 = mount_count();
    let mut ex = executor(dir, "sleaks");
    let z = root_zygote(&mut ex)?;
    let spec = handler(dir, "h", ECHO);
    let cycle = |ex: &mut Executor, i: usize| -> TestResult {
        let s = refill(ex, &z).map_err(|m| format!("cycle {i}: {m}"))?;
        let (mut c, report) = ex
            .fork_with(&z, &spec, Role::Handler, true, T)
            .map_err(|m| format!("cycle {i}: {m}"))?;
        check(
            report.spare && c.cgroup == s.cgroup,
            format!("cycle {i}: not served by the pre-joined spare"),
        )?;
        let r = ex.invoke(&mut c, "0", T).map_err(e)?;
        check(r.status == 200, format!("cycle {i}: status {}", r.status))?;
        ex.destroy(c).map_err(|m| format!("cycle {i}: {m}"))
    };
    cycle(&mut ex, 0)?;
    let held = Held::now();
    let zfds = fds_of(z.init.as_raw());
    let cgroups = ex.backend().list_below(&prefix("sleaks")).len();
    let pool = ex.pool_counts();
    for i in 1..=cycles {
        cycle(&mut ex, i)?;
    }
    let now = ex.backend().list_below(&prefix("sleaks")).len();
    check(now == cgroups, format!("cgroups {cgroups} -> {now}"))?;
    check(
        ex.pool_counts() == pool,
        format!("pool {pool:?} -> {:?}", ex.pool_counts()),
    )?;
    held.check_unchanged()?;
    check_zygote_clean(&z, zfds)?;
    // Only the Zygote runs below the prefix.
    for cg in ex.backend().list_below(&prefix("sleaks")) {
        let p = procs(&ex, &cg)?;
        check(
            p.is_empty() || cg == z.cgroup,
            format!("{:?} holds {p:?}", cg.rel),
        )?;
    }
    ex.destroy(z).map_err(e)?;
    let backend = ex.backend().clone();
    ex.shutdown().map_err(e)?;
    check(
        backend.list_below(&prefix("sleaks")).is_empty(),
        "shutdown removes the pool",
    )?;
    check(mount_count() == mounts0, "mounts after shutdown")
}
