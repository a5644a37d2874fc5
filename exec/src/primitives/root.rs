//! chroot vs pivot_root (SOCK's lean containers use chroot: no mount
//! namespace to create, copy and tear down).
//!
//! Each operation forks a child that switches its root and exits; the
//! child times the root switch itself, the worker times fork + switch +
//! exit + wait (which includes tearing down any mount namespace).
//! Variants:
//! - `chroot`: chroot(rootfs) + chdir("/");
//! - `mntns+chroot`: unshare(CLONE_NEWNS) first, to separate the cost of
//!   the namespace from that of pivot_root;
//! - `mntns+pivot_root`: unshare(CLONE_NEWNS), make every mount private,
//!   bind the rootfs onto itself (pivot_root needs a mount point), chdir
//!   into it, pivot_root(".", "."), detach the old root.

use super::scratch::{synthetic_rootfs, ScratchDir};
use super::worker::{run_workers, Forker, OpResult, Run};
use super::{Config, PrimError, Row};
use crate::sys::prim::{
    chdir, chroot, make_rprivate_root, monotonic_ns, pivot_root_here, rbind, unshare, CloneFlags,
};
use std::collections::BTreeMap;
use std::path::Path;

pub const EXPERIMENT: &str = "root";

const VARIANTS: [&str; 3] = ["chroot", "mntns+chroot", "mntns+pivot_root"];

/// Runs in the forked child: switches root per variant, returns the ns.
fn switch_root(vi: usize, rootfs: &Path) -> OpResult {
    let t0 = monotonic_ns();
    match vi {
        0 => {
            chroot(rootfs)?;
            chdir(Path::new("/"))?;
        }
        1 => {
            unshare(CloneFlags::CLONE_NEWNS)?;
            chroot(rootfs)?;
            chdir(Path::new("/"))?;
        }
        _ => {
            unshare(CloneFlags::CLONE_NEWNS)?;
            make_rprivate_root()?;
            rbind(rootfs, rootfs)?;
            chdir(rootfs)?;
            pivot_root_here()?;
        }
    }
    Ok(monotonic_ns() - t0)
}

pub fn run(cfg: &Config) -> Result<Vec<Row>, PrimError> {
    let scratch = ScratchDir::new(&cfg.scratch, "root")?;
    let rootfs = match &cfg.rootfs {
        Some(r) => r.clone(),
        None => synthetic_rootfs(scratch.path())?,
    };
    let mut cells: BTreeMap<usize, Run> = BTreeMap::new();
    for _round in 0..cfg.rounds.max(1) {
        for (vi, name) in VARIANTS.iter().enumerate() {
            let mut forker = Forker::new();
            let mut op = || forker.run(&mut || switch_root(vi, &rootfs));
            let run = run_workers(1, cfg.warmup, cfg.per_round(cfg.iterations), &mut op)
                .map_err(|e| e.within(EXPERIMENT, *name))?;
            cells.entry(vi).or_default().absorb(run);
        }
    }
    let detail = format!("rootfs={}", rootfs.display());
    drop(scratch);
    Ok(cells
        .into_iter()
        .flat_map(|(vi, mut run)| {
            Row::pair(
                EXPERIMENT,
                VARIANTS[vi],
                ("fork+switch+exit+wait", "switch root"),
                ("-", 0),
                &mut run,
                &detail,
            )
        })
        .collect())
}
