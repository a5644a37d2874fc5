//! `sim mrc`: the handler tier's cold-start (miss-ratio) curve against its
//! memory budget in one pass over the trace (issue 11, item 3).
//!
//! [`stack`] computes Mattson stack distances in bytes over handler
//! instances with a Fenwick tree ([`fenwick`]); [`sample`] is SHARDS-style
//! spatial sampling by function; [`curve`] reads the cold share at each
//! memory of a grid off the sorted distances.
//!
//! Exact for sim's handler tier with LRU keep-alive bounded by capacity
//! only (`--policy lru --zygotes off --worker-mb unbounded --cores
//! unbounded`) and one instance per function. A call's instance is busy
//! from its arrival to arrival + warm handler time (the trace's); cold
//! starts run longer in sim, which can reorder releases slightly. What
//! breaks exactness: concurrent calls of one function (counted cold at
//! every capacity here: conservative), TTL or fixed-lifetime expiry,
//! GDSF and Hybrid (not stack policies), Zygote-tier interaction and worker
//! memory shared with busy instances and Zygotes (evictions for room).
//! `sim sweep --axis handler-mb=...` replays those exactly.

pub mod curve;
pub mod fenwick;
pub mod sample;
pub mod stack;

use anyhow::Result;
use std::path::Path;

pub use curve::{Curve, Point};

/// The accesses of `trace` (sampled), in arrival order, and the function count.
pub fn load(trace: &Path, sampler: sample::Sampler) -> Result<Vec<stack::Access>> {
    let (catalog, invocations) = crate::open_trace(trace)?.into_parts();
    let memory: Vec<u64> = (0..catalog.function_count())
        .map(|i| {
            let f = sock_core::FunctionId(i as u32);
            sock_core::Bytes::from_mb_f64(catalog.function(f).memory_mb).0
        })
        .collect();
    let mut out = Vec::new();
    for inv in invocations {
        let inv = inv?;
        if !sampler.keeps(inv.function) {
            continue;
        }
        let run = catalog.handler_time(&inv, false).0.max(1);
        out.push(stack::Access {
            arrival: inv.time.0,
            release: inv.time.0 + run,
            function: inv.function.0,
            memory: memory[inv.function.index()],
        });
    }
    Ok(out)
}

/// The curve of `trace` at `grid_mb`, sampling functions at `rate`.
pub fn run(trace: &Path, grid_mb: &[f64], rate: f64) -> Result<Curve> {
    let sampler = sample::Sampler::new(rate);
    let accesses = load(trace, sampler)?;
    let d = stack::distances(&accesses, 1.0 / rate);
    Ok(Curve::new(&d, grid_mb, rate))
}
