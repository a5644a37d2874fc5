//! The raw samples a calibration collects (ms or MB) and the statistics
//! read from them: median and quartiles by nearest rank.

use sock_core::Bytes;
use std::collections::BTreeMap;
use std::time::Duration;

/// Everything measured, as raw samples (ms or MB).
#[derive(Debug, Default)]
pub(super) struct Measured {
    /// Fresh no-op start: create + invoke - handler - imports.
    pub(super) fresh: Vec<f64>,
    /// Create steps 1-7 of forks from the root Zygote.
    pub(super) prepare: Vec<f64>,
    /// Fork phase from the root Zygote.
    pub(super) fork_base: Vec<f64>,
    /// Fork phase from the big Zygote.
    pub(super) fork_big: Vec<f64>,
    /// Create steps 1-7 with [`MOUNTS`](super::MOUNTS) package folders mounted.
    pub(super) prepare_many: Vec<f64>,
    /// Fork phase when a pre-forked child takes the container.
    pub(super) spare: Vec<f64>,
    /// Transport phase of the forks above (from a Zygote, from a spare).
    pub(super) transport: Vec<f64>,
    /// Transport phase of the fresh starts.
    pub(super) transport_fresh: Vec<f64>,
    /// Transport phase of handler hits (a process that served before).
    pub(super) transport_warm: Vec<f64>,
    /// Root Zygotes' memory.
    pub(super) root_mb: Vec<f64>,
    /// The big Zygote's memory.
    pub(super) big_mb: f64,
    /// Handlers' memory right after a fork from the root Zygote.
    pub(super) fork_mb: Vec<f64>,
    pub(super) unpause: Vec<f64>,
    /// Measured packages, by `name==version`.
    pub(super) packages: BTreeMap<String, PackageSample>,
    /// Packages that could not be measured, with why.
    pub(super) skipped: Vec<(String, String)>,
}

#[derive(Clone, Debug)]
pub(super) struct PackageSample {
    pub(super) import_ms: f64,
    pub(super) import_mb: f64,
    pub(super) install_ms: f64,
    pub(super) runs: usize,
}

/// Median and quartiles (nearest rank, `sock_core::quantile`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Stat {
    pub(super) median: f64,
    pub(super) p25: f64,
    pub(super) p75: f64,
    pub(super) n: usize,
}

/// Nearest rank (`sock_core::quantile`), as every report of the project.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    sock_core::quantile::nearest_rank(sorted, q).unwrap_or(f64::NAN)
}

pub(super) fn stat(samples: &[f64]) -> Stat {
    let mut s: Vec<f64> = samples.iter().copied().filter(|v| v.is_finite()).collect();
    s.sort_by(f64::total_cmp);
    Stat {
        median: quantile(&s, 0.5),
        p25: quantile(&s, 0.25),
        p75: quantile(&s, 0.75),
        n: s.len(),
    }
}

pub(super) fn median(samples: &[f64]) -> f64 {
    stat(samples).median
}

pub(super) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub(super) fn us_ms(us: Option<u64>) -> f64 {
    us.unwrap_or(0) as f64 / 1e3
}

/// Bytes as the cost model's MB (MiB; see [`Bytes::from_mb_f64`]).
pub(super) fn mb(bytes: u64) -> f64 {
    Bytes(bytes).as_mb_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quartiles_are_nearest_rank() {
        let s = stat(&[4.0, 1.0, 3.0, 2.0, f64::NAN]);
        assert_eq!(s.n, 4);
        assert_eq!(s.median, 2.0);
        assert_eq!(s.p25, 1.0);
        assert_eq!(s.p75, 3.0);
        assert!(stat(&[]).median.is_nan());
        assert_eq!(stat(&[7.0]).p75, 7.0);
    }
}
