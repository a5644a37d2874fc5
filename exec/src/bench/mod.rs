//! Benchmarks. They measure; tests assert behaviour.
//!
//! Concurrency comes from forked worker processes, never threads: the
//! executor forks containers and must stay single-threaded.

pub mod containers;
mod plot;
mod workers;

/// Median and 95th percentile of `v` (sorted in place), in ms.
pub fn p50_p95_ms(v: &mut [f64]) -> (f64, f64) {
    if v.is_empty() {
        return (0.0, 0.0);
    }
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[(((v.len() as f64) * q).ceil() as usize).clamp(1, v.len()) - 1];
    (at(0.5), at(0.95))
}
