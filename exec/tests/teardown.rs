//! Privileged tests of the asynchronous destroy (issue 9): the kill is
//! immediate and the rest is queued; a cgroup being emptied is never
//! handed out; the queue is bounded; shutdown and drop drain it, leaving
//! no mount, cgroup, process or folder. Root and a base image needed (see
//! `common/mod.rs`).

mod common;

use common::*;
use sock_exec::container::{Container, Executor, ExecutorConfig};
use sock_exec::sys::process;
use std::path::{Path, PathBuf};

fn main() {
    run_cases(
        "teardown",
        &[
            (
                "async_destroy_kills_now_and_queues_the_rest",
                async_destroy_kills_now_and_queues_the_rest,
            ),
            (
                "a_cgroup_being_emptied_is_not_handed_out",
                a_cgroup_being_emptied_is_not_handed_out,
            ),
            (
                "pending_teardowns_are_bounded",
                pending_teardowns_are_bounded,
            ),
            (
                "shutdown_drains_pending_teardowns",
                shutdown_drains_pending_teardowns,
            ),
            (
                "drop_drains_pending_teardowns",
                drop_drains_pending_teardowns,
            ),
            (
                "prepared_roots_are_used_refilled_and_removed",
                prepared_roots_are_used_refilled_and_removed,
            ),
        ],
    );
}

fn e(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn executor_with(dir: &Path, case: &str, pool: usize, bound: usize) -> Executor {
    let mut config = ExecutorConfig::new(dir.join(format!("state-{case}")), base_root());
    config.cgroup_prefix = prefix(case);
    config.pool_size = pool;
    config.max_pending_teardowns = bound;
    config.limits.memory_bytes = Some(96 << 20);
    config.limits.pids = Some(32);
    Executor::new(config).expect("executor")
}

/// A running container, answered once (so its interpreter is up).
fn served(ex: &mut Executor, dir: &Path) -> Result<Container, String> {
    let mut c = ex.create(&handler(dir, "h", ECHO)).map_err(e)?;
    let r = ex.invoke(&mut c, "1", T).map_err(e)?;
    check(r.status == 200, format!("status {}", r.status))?;
    Ok(c)
}

/// The init is killed at once (it dies without any further call); its
/// folder, mounts and cgroup stay until the teardown completes.
fn async_destroy_kills_now_and_queues_the_rest(dir: &Path) -> TestResult {
    let mounts0 = mount_count();
    let mut ex = executor_with(dir, "tkill", 2, 4);
    let c = served(&mut ex, dir)?;
    let (init, cdir, cg) = (c.init, c.dir.clone(), c.cgroup.clone());
    ex.destroy_async(c).map_err(e)?;
    check(ex.pending_teardowns() == 1, "one teardown queued")?;
    check(cdir.exists(), "the folder waits for the teardown")?;
    check(ex.pool_counts() == (2, 1), "its cgroup is not free yet")?;
    // Killed: it exits by itself (a zombie until the teardown reaps it).
    check(
        wait_until(|| !is_running(init)),
        "the init dies without a further call",
    )?;
    check(ex.collect_teardowns().map_err(e)? == 0, "collected")?;
    check(!cdir.exists(), "folder removed")?;
    check(!process::is_alive(init), "init reaped")?;
    check(
        ex.backend().procs(&cg).map_err(e)?.is_empty(),
        "cgroup empty",
    )?;
    check(ex.pool_counts() == (2, 2), "cgroup back in the pool")?;
    // The idle point also made the prepared roots: 3 mounts each.
    check(
        mount_count() == mounts0 + 1 + 3 * ex.prepared_roots(),
        format!(
            "only the private mount and {} prepared roots are left",
            ex.prepared_roots()
        ),
    )?;
    ex.shutdown().map_err(e)
}

/// Prepared roots (steps 2, 3, 5, 7 done at an idle point): a create
/// takes one and still gets its own handler, its own scratch and a clean
/// /tmp; the idle point makes new ones; shutdown removes the unused ones
/// and their mounts, folders and nothing else is left after many cycles.
fn prepared_roots_are_used_refilled_and_removed(dir: &Path) -> TestResult {
    let mounts0 = mount_count();
    let mut ex = executor_with(dir, "tblank", 3, 4);
    check(ex.prepared_roots() == 0, "none before the first idle point")?;
    ex.collect_teardowns().map_err(e)?;
    check(ex.prepared_roots() == 2, "two after it (the default)")?;
    // Writes a file into /tmp, then reports whether one was there before.
    let probe = "import os\n\ndef f(event):\n    seen = os.listdir('/tmp')\n    \
        open('/tmp/mark', 'w').write('x')\n    return {'tmp': seen, 'h': open('/handler/f.py').read()[:6]}\n";
    for round in 0..20 {
        let spec = handler(dir, &format!("p{}", round % 3), probe);
        let mut c = ex.create(&spec).map_err(e)?;
        check(
            ex.prepared_roots() < 2,
            format!("round {round}: the create took a prepared root"),
        )?;
        let r = ex.invoke(&mut c, "{}", T).map_err(e)?;
        check(
            r.status == 200 && r.body.contains("\"tmp\":[]") && r.body.contains("import"),
            format!(
                "round {round}: a clean /tmp and its own handler: {} {}",
                r.status, r.body
            ),
        )?;
        ex.destroy_async(c).map_err(e)?;
        ex.collect_teardowns().map_err(e)?;
        check(ex.prepared_roots() == 2, format!("round {round}: refilled"))?;
    }
    let containers = ex.containers_dir().to_path_buf();
    ex.shutdown().map_err(e)?;
    check(mount_count() == mounts0, "no mount left after shutdown")?;
    let left: Vec<_> = std::fs::read_dir(&containers)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    check(left.is_empty(), format!("container folders left: {left:?}"))
}

/// With one pooled cgroup, a create right after an asynchronous destroy
/// gets that cgroup only once its teardown completed and it is empty:
/// only the new container's init is inside.
fn a_cgroup_being_emptied_is_not_handed_out(dir: &Path) -> TestResult {
    let mut ex = executor_with(dir, "treuse", 1, 4);
    let c1 = served(&mut ex, dir)?;
    let (init1, cg1) = (c1.init, c1.cgroup.clone());
    ex.destroy_async(c1).map_err(e)?;
    check(ex.pool_counts() == (1, 0), "pending: no free cgroup")?;
    let c2 = served(&mut ex, dir)?;
    check(
        c2.cgroup == cg1,
        "the pool did not grow: it reused the cgroup",
    )?;
    check(
        ex.pending_teardowns() == 0,
        "the teardown was completed first",
    )?;
    check(!process::is_alive(init1), "the old init is gone")?;
    let procs = ex.backend().procs(&cg1).map_err(e)?;
    check(
        procs == vec![c2.init],
        format!("only the new init in the cgroup: {procs:?}"),
    )?;
    // With a second cgroup free, the create takes it and leaves the
    // queued teardown alone.
    let mut ex2 = executor_with(dir, "treuse2", 2, 4);
    let a = served(&mut ex2, dir)?;
    let cga = a.cgroup.clone();
    ex2.destroy_async(a).map_err(e)?;
    let b = served(&mut ex2, dir)?;
    check(b.cgroup != cga, "a free cgroup, not the one being emptied")?;
    ex2.destroy(b).map_err(e)?;
    ex2.shutdown().map_err(e)?;
    ex.destroy(c2).map_err(e)?;
    ex.shutdown().map_err(e)
}

/// More asynchronous destroys than the bound, with no idle point: the
/// oldest are completed (waited for), never more than the bound queued.
fn pending_teardowns_are_bounded(dir: &Path) -> TestResult {
    let mut ex = executor_with(dir, "tbound", 4, 2);
    let mut inits = Vec::new();
    for i in 0..6 {
        let c = served(&mut ex, dir)?;
        inits.push(c.init);
        ex.destroy_async(c).map_err(e)?;
        check(
            ex.pending_teardowns() <= 2,
            format!("round {i}: {} queued", ex.pending_teardowns()),
        )?;
    }
    // The first four were completed: reaped.
    for (i, p) in inits.iter().take(4).enumerate() {
        check(!process::is_alive(*p), format!("init {i} reaped"))?;
    }
    check(ex.pool_counts().0 == 4, "the pool never grew")?;
    ex.shutdown().map_err(e)
}

/// What must be gone once an executor with queued teardowns is torn down.
struct Remains {
    mounts0: usize,
    children0: usize,
    dirs: Vec<PathBuf>,
    inits: Vec<nix::unistd::Pid>,
    case: &'static str,
}

impl Remains {
    fn check_gone(&self, backend: &sock_exec::cgroup::CgroupBackend) -> TestResult {
        check(mount_count() == self.mounts0, "mounts left")?;
        check(child_count() == self.children0, "child processes left")?;
        for p in &self.inits {
            check(!process::is_alive(*p), format!("init {p} left"))?;
        }
        for d in &self.dirs {
            check(!d.exists(), format!("folder {} left", d.display()))?;
        }
        check(
            backend.list_below(&prefix(self.case)).is_empty(),
            "cgroups left",
        )
    }
}

/// Three containers destroyed asynchronously, then `teardown` (shutdown
/// or drop): nothing of them is left.
fn drains(dir: &Path, case: &'static str, teardown: fn(Executor) -> TestResult) -> TestResult {
    let mut r = Remains {
        mounts0: mount_count(),
        children0: child_count(),
        dirs: Vec::new(),
        inits: Vec::new(),
        case,
    };
    let mut ex = executor_with(dir, case, 4, 4);
    for _ in 0..3 {
        let c = served(&mut ex, dir)?;
        r.dirs.push(c.dir.clone());
        r.inits.push(c.init);
        ex.destroy_async(c).map_err(e)?;
    }
    check(ex.pending_teardowns() == 3, "three queued")?;
    let backend = ex.backend().clone();
    teardown(ex)?;
    r.check_gone(&backend)
}

fn shutdown_drains_pending_teardowns(dir: &Path) -> TestResult {
    drains(dir, "tshut", |ex| ex.shutdown().map_err(e))
}

fn drop_drains_pending_teardowns(dir: &Path) -> TestResult {
    drains(dir, "tdrop", |ex| {
        drop(ex);
        Ok(())
    })
}

/// Alive and not yet a zombie (`/proc/<pid>/stat`'s state field).
fn is_running(pid: nix::unistd::Pid) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|state| state != 'Z' && state != 'X')
    })
}

/// Polls `cond` for up to 5 s.
fn wait_until(mut cond: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_secs(5) {
        if cond() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    false
}
