//! cgroup v2 mechanics on the real kernel. On a hybrid host (v1 controllers
//! plus an empty unified hierarchy, like the project's VM) the v2 backend
//! runs against the unified hierarchy: no controllers there, so no limits,
//! but joining, freezing, `cgroup.kill` and removal are the real v2 paths.
//! On a pure v2 host it runs against the root hierarchy with limits.

mod common;

use common::*;
use sock_exec::cgroup::{detect, Cgroup, CgroupBackend, CgroupLayout, Limits, V2};
use sock_exec::sys::{fs, process};
use std::path::{Path, PathBuf};

fn main() {
    run_cases(
        "cgroup_v2",
        &[("join_freeze_kill_remove", join_freeze_kill_remove)],
    );
}

fn v2_root() -> Option<std::path::PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    match detect(&info) {
        CgroupLayout::V2 { mount } | CgroupLayout::Hybrid { unified: mount, .. } => Some(mount),
        _ => None,
    }
}

fn join_freeze_kill_remove(_dir: &Path) -> TestResult {
    let Some(root) = v2_root() else {
        return Err("no cgroup v2 hierarchy is mounted".into());
    };
    let v2 = V2::new(root.clone());
    let backend = CgroupBackend::V2(v2.clone());
    // Unique to this test process: other test runs may share the host.
    let top = PathBuf::from(format!("sock-exec-test-v2-{}", std::process::id()));
    let rel = top.join("leaf");
    let rel = rel.as_path();
    let cg: Cgroup = backend
        .create(rel, &Limits::default())
        .map_err(|e| e.to_string())?;
    let result = exercise(&backend, &cg);
    // Always clean up, even after a failed check.
    let _ = backend.kill_all(&cg);
    let _ = backend.remove(&cg);
    let _ = backend.remove(&Cgroup { rel: top.clone() });
    result?;
    check(!root.join(rel).exists(), "the cgroup is removed")
}

fn exercise(backend: &CgroupBackend, cg: &Cgroup) -> TestResult {
    let files = backend.join_files(cg);
    let (r, w) = fs::pipe().map_err(|e| e.to_string())?;
    let child = match process::fork().map_err(|e| e.to_string())? {
        process::ForkResult::Child => {
            drop(r);
            let ok = files.iter().all(|f| std::fs::write(f, "0").is_ok());
            let _ = nix::unistd::write(&w, if ok { b"y" } else { b"n" });
            drop(w);
            loop {
                std::thread::sleep(std::time::Duration::from_secs(1));
            }
        }
        process::ForkResult::Parent { child } => child,
    };
    drop(w);
    let mut b = [0u8; 1];
    nix::unistd::read(std::os::fd::AsRawFd::as_raw_fd(&r), &mut b).map_err(|e| e.to_string())?;
    check(&b == b"y", "the child joined the v2 cgroup")?;
    let procs = backend.procs(cg).map_err(|e| e.to_string())?;
    check(
        procs == vec![child],
        format!("cgroup.procs lists the child: {procs:?}"),
    )?;
    // freeze() returns once cgroup.events reports "frozen 1", thaw() once "frozen 0".
    backend.freeze(cg).map_err(|e| e.to_string())?;
    backend.thaw(cg).map_err(|e| e.to_string())?;
    backend.kill_all(cg).map_err(|e| e.to_string())?;
    process::wait_reaped(child).map_err(|e| e.to_string())?;
    check(
        backend.procs(cg).map_err(|e| e.to_string())?.is_empty(),
        "cgroup.kill emptied the cgroup",
    )
}
