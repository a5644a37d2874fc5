//! Namespace create+destroy throughput vs concurrency (SOCK Fig. 2: a
//! global lock made network namespaces scale badly, ~200 containers/s
//! with one, ~900/s without).
//!
//! `P` workers each loop: fork a child, the child calls `unshare(flags)`
//! and exits (the kernel destroys its namespaces), the worker waits. The
//! variants differ only in `flags`, so the cost of a network namespace
//! stands out against UTS+IPC (and a mount namespace, for scale). Note
//! that the kernel frees a network namespace asynchronously (a work
//! queue, `cleanup_net`), so part of its destroy cost lands on whichever
//! process runs next; on a 2-core host that shows as lower throughput.

use super::worker::{run_workers, Forker, Run};
use super::{Config, PrimError, Row};
use crate::sys::prim::{monotonic_ns, unshare, CloneFlags};
use std::collections::BTreeMap;

pub const EXPERIMENT: &str = "netns";

/// The variants: (name, unshare flags).
pub fn variants() -> [(&'static str, CloneFlags); 4] {
    let lean = CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWIPC;
    [
        ("fork only", CloneFlags::empty()),
        ("uts+ipc", lean),
        ("uts+ipc+mnt", lean | CloneFlags::CLONE_NEWNS),
        ("uts+ipc+net", lean | CloneFlags::CLONE_NEWNET),
    ]
}

pub fn run(cfg: &Config) -> Result<Vec<Row>, PrimError> {
    let mut cells: BTreeMap<(usize, usize), Run> = BTreeMap::new();
    for _round in 0..cfg.rounds.max(1) {
        for &procs in &cfg.concurrency {
            for (vi, (name, flags)) in variants().into_iter().enumerate() {
                let mut forker = Forker::new();
                let mut op = || {
                    forker.run(&mut || {
                        let t0 = monotonic_ns();
                        unshare(flags)?;
                        Ok(monotonic_ns() - t0)
                    })
                };
                let run = run_workers(procs, cfg.warmup, cfg.per_round(cfg.iterations), &mut op)
                    .map_err(|e| e.within(EXPERIMENT, format!("{name}, {procs} processes")))?;
                cells.entry((vi, procs)).or_default().absorb(run);
            }
        }
    }
    let names = variants();
    Ok(cells
        .into_iter()
        .flat_map(|((vi, procs), mut run)| {
            Row::pair(
                EXPERIMENT,
                names[vi].0,
                ("fork+unshare+exit+wait", "unshare"),
                ("processes", procs as u64),
                &mut run,
                "",
            )
        })
        .collect())
}
