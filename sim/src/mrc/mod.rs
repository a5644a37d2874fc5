//! `sim mrc`: the handler tier's cold-start (miss-ratio) curve against its
//! memory budget (issue 11, item 3), without replaying the whole engine.
//!
//! [`load`] reads the trace once into [`Access`]es (arrival, warm and
//! cold service time, memory); [`lru`] replays the handler tier alone at
//! one capacity, exactly; [`stack`] is the one-pass estimate (the
//! largest depth of each idle instance, [`history`]); [`sample`] is
//! SHARDS-style spatial sampling by function; [`curve`] renders the
//! cold share at each memory of a grid.
//!
//! # What it is exact for
//!
//! The default curve is sim's handler tier under `--policy lru --zygotes
//! off --worker-mb unbounded --cores unbounded` with the default cost
//! parameters: [`lru::cold_count`] follows `HandlerCache` with the LRU
//! policy rule for rule (the budget bounds idle instances only; several
//! idle instances per function, the most recently idled reused; a
//! finished instance paused at the top, evicting the least recently idled
//! until it fits, or destroyed when larger than the budget; completions
//! before an arrival at the same instant), with sim's service times (a
//! hit: unpause + handler + transport; a cold start: create + Python
//! start + installs + imports + cold handler + cold transport). One
//! assumption: the install cache never evicts (true while the trace's
//! packages fit `--install-mb`, 8 GB by default), so a package is
//! installed by the first call that needs it, at every capacity. On the
//! 500-function Azure slice it does not hold (the sweep evicts about
//! 17 k packages per point and re-installs them in later cold starts,
//! which then run longer), and the curve is still within 0.003 points.
//!
//! Why not one Mattson pass for the whole curve: the inclusion property
//! fails for these semantics, three ways.
//! 1. A resumed instance leaves the *middle* of the LRU order. A cache of
//!    C bytes may already have evicted an instance the unbounded stack
//!    still holds at depth <= C (it was deeper while the resumed one was
//!    idle above it), so the stack distance at the reuse undercounts. The
//!    exact criterion is the largest depth the instance reached while
//!    idle ([`stack`] computes that: a hit at C iff it never exceeded C).
//! 2. An instance larger than the budget is destroyed without evicting
//!    anything, so at C it displaces nothing while at a C' above its size
//!    it does: a bigger cache can miss where a smaller one hits.
//! 3. A cold start runs longer than a warm call (create, imports), so
//!    release times, the LRU order and the overlap of calls all depend on
//!    which calls missed, hence on C. Measured (BENCHMARKS.md): replaying
//!    with cold service = warm service moves the curve by at most 0.29
//!    points on generated traces, 0.66 on the 100-function Azure slice
//!    and 1.03 on the 500-function one.
//!
//! So the curve replays the tier once per grid point ([`lru`]: a heap of
//! busy instances and an ordered set of idle ones, O(n log n) per point,
//! no engine), from one read of the trace. [`run_one_pass`] ([`stack`])
//! gives every point from one pass instead, with errors 2 and 3 left in
//! (up to 9.4 points at 64 MB on the 100-function slice, 3.2 on the
//! 500-function one; where every instance fits the smallest budget and
//! cold and warm service times agree it equals the replay, a property
//! test). The replay is within 0.003 points of the sweep on both slices.
//!
//! Sampling ([`sample`], `--sample-rate`): each replay keeps only the
//! sampled functions' calls and counts the other functions' idle bytes
//! 1 / rate times, an instance's own bytes once (so what fits the budget
//! is unchanged); the share is of the sampled calls. With few functions
//! and skewed calls it is far off (BENCHMARKS.md).
//!
//! Not covered (use `sim sweep --axis handler-mb=...`): TTL and fixed
//! lifetimes (expiry), GDSF and Hybrid (not LRU), Zygotes on (cold starts
//! fork, and the Zygote tier competes for memory), a bounded worker or
//! core count (queueing, evictions for room), calibrated cost parameters
//! and `--keepalive-from start`.

pub mod curve;
pub mod history;
pub mod lru;
pub mod sample;
pub mod stack;

use anyhow::Result;
use sock_core::cost::{CostModel, CostParams};
use sock_core::{Bytes, FunctionId, Micros, PackageSet};
use std::path::Path;

pub use curve::{Curve, Point};
pub use lru::Access;

/// The trace as the tier sees it: the sampled functions' calls in
/// arrival order, and how many calls the whole trace has.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub accesses: Vec<Access>,
    pub calls: u64,
}

/// The accesses of `trace` (the sampled functions'), in arrival order.
pub fn load(trace: &Path, sampler: sample::Sampler) -> Result<Loaded> {
    let (catalog, invocations) = crate::open_trace(trace)?.into_parts();
    let cost = CostModel::new(CostParams::default(), &catalog)?;
    let n = catalog.function_count();
    let memory: Vec<u64> = (0..n)
        .map(|i| Bytes::from_mb_f64(catalog.function(FunctionId(i as u32)).memory_mb).0)
        .collect();
    // A cold start without its installs; installs by first need.
    let cold_base: Vec<Micros> = (0..n)
        .map(|i| {
            let need = catalog.closure(FunctionId(i as u32));
            cost.container_create(need.len())
                + cost.python_start()
                + cost.import_time(need)
                + cost.transport_cold()
        })
        .collect();
    let warm_base = cost.unpause() + cost.transport();
    let mut installed = PackageSet::new();
    let mut seen = vec![false; n];
    let mut out = Vec::new();
    let mut calls = 0;
    for inv in invocations {
        let inv = inv?;
        calls += 1;
        let f = inv.function;
        let mut install = Micros::ZERO;
        if !std::mem::replace(&mut seen[f.index()], true) {
            let missing = catalog.closure(f).difference(&installed);
            install = cost.install_time(&missing);
            installed = installed.union(&missing);
        }
        if !sampler.keeps(f) {
            continue;
        }
        out.push(Access {
            arrival: inv.time.0,
            warm: (warm_base + catalog.handler_time(&inv, false)).0,
            cold: (cold_base[f.index()] + install + catalog.handler_time(&inv, true)).0,
            function: f.0,
            memory: memory[f.index()],
        });
    }
    Ok(Loaded {
        accesses: out,
        calls,
    })
}

/// The sampled trace and the capacities (bytes) of `grid_mb`.
fn prepare(trace: &Path, grid_mb: &[f64], rate: f64) -> Result<(Loaded, Vec<u64>)> {
    let loaded = load(trace, sample::Sampler::new(rate))?;
    let capacities = grid_mb.iter().map(|&mb| Bytes::from_mb_f64(mb).0).collect();
    Ok((loaded, capacities))
}

/// The curve of `trace` at `grid_mb`, sampling functions at `rate`: one
/// exact replay of the tier per point ([`lru`]).
pub fn run(trace: &Path, grid_mb: &[f64], rate: f64) -> Result<Curve> {
    let (t, capacities) = prepare(trace, grid_mb, rate)?;
    // One replay per capacity, in parallel (rayon), over the one read.
    use rayon::prelude::*;
    let cold: Vec<u64> = capacities
        .par_iter()
        .map(|&c| lru::cold_count_scaled(&t.accesses, c, 1.0 / rate))
        .collect();
    Ok(Curve::new(&t, grid_mb, &cold, rate, false))
}

/// [`run`] from one stack pass ([`stack`]): faster, not exact.
pub fn run_one_pass(trace: &Path, grid_mb: &[f64], rate: f64) -> Result<Curve> {
    let (t, capacities) = prepare(trace, grid_mb, rate)?;
    let depths = stack::Depths::new(&t.accesses);
    let cold = depths.cold_counts_scaled(&t.accesses, &capacities, 1.0 / rate);
    Ok(Curve::new(&t, grid_mb, &cold, rate, true))
}
