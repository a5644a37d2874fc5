//! `unshare(CLONE_NEWNS)` cost vs the number of mounts in the namespace
//! it copies (SOCK Fig. 3: the copy is linear in the host's mount count).
//!
//! For each count `N` a scratch tmpfs gets `N` dummy tmpfs mounts below
//! it; a worker then forks children that each call
//! `unshare(CLONE_NEWNS)` (timed inside the child) and exit, which also
//! tears the copied namespace down (the worker times the whole of fork,
//! unshare, exit and wait). The dummies are made twice: below a private mount,
//! and below a shared one (each dummy then heads its own peer group, as
//! on systemd hosts where `/` is shared), because a copied shared mount
//! also joins its peer group. All dummies are detached when the scratch
//! guard drops, also on error.

use super::scratch::{make_dirs, mount_count, ScratchMount};
use super::worker::{run_workers, Forker, Run};
use super::{Config, PrimError, Row};
use crate::sys::prim::{monotonic_ns, mount_tmpfs, unshare, CloneFlags, Propagation};
use std::collections::BTreeMap;

pub const EXPERIMENT: &str = "mount_count";

fn variant_name(p: Propagation) -> &'static str {
    match p {
        Propagation::Private => "private dummies",
        Propagation::Shared => "shared dummies",
    }
}

/// Measures one (count, propagation) cell; the dummies live only inside
/// this call.
fn cell(cfg: &Config, n: usize, propagation: Propagation) -> Result<(Run, usize), PrimError> {
    let scratch = ScratchMount::new(&cfg.scratch, "mounts", propagation)?;
    for dir in make_dirs(scratch.path(), "d", n)? {
        mount_tmpfs(&dir, "size=4k,mode=0755")?;
    }
    let total = mount_count()?;
    let mut forker = Forker::new();
    let mut op = || {
        forker.run(&mut || {
            let t0 = monotonic_ns();
            unshare(CloneFlags::CLONE_NEWNS)?;
            Ok(monotonic_ns() - t0)
        })
    };
    let run = run_workers(1, cfg.warmup, cfg.per_round(cfg.iterations), &mut op)?;
    drop(scratch);
    Ok((run, total))
}

pub fn run(cfg: &Config) -> Result<Vec<Row>, PrimError> {
    let mut cells: BTreeMap<(usize, u8), (Run, usize)> = BTreeMap::new();
    for _round in 0..cfg.rounds.max(1) {
        for &n in &cfg.mount_counts {
            for (pi, p) in [Propagation::Private, Propagation::Shared]
                .into_iter()
                .enumerate()
            {
                let (run, total) = cell(cfg, n, p).map_err(|e| {
                    e.within(EXPERIMENT, format!("{}, {n} mounts", variant_name(p)))
                })?;
                let slot = cells.entry((n, pi as u8)).or_default();
                slot.0.absorb(run);
                slot.1 = total;
            }
        }
    }
    Ok(cells
        .into_iter()
        .flat_map(|((n, pi), (mut run, total))| {
            let p = if pi == 0 {
                Propagation::Private
            } else {
                Propagation::Shared
            };
            Row::pair(
                EXPERIMENT,
                variant_name(p),
                ("fork+unshare+exit+wait", "unshare(NEWNS)"),
                ("dummy_mounts", n as u64),
                &mut run,
                &format!("mounts_total={total}"),
            )
        })
        .collect())
}
