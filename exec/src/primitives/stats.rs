//! Per-operation statistics: median and p95 by the nearest-rank rule
//! (the value at rank ceil(q * n), 1-based), so every reported figure is a
//! latency that was actually observed.

/// Summary of one set of per-operation samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    pub samples: usize,
    pub median_us: f64,
    pub p95_us: f64,
    pub mean_us: f64,
}

/// Nearest-rank quantile (`sock_core::quantile`) of sorted nanosecond
/// samples, in µs.
fn quantile_us(sorted_ns: &[u64], q: f64) -> f64 {
    sock_core::quantile::nearest_rank(sorted_ns, q).map_or(f64::NAN, |ns| ns as f64 / 1_000.0)
}

impl Summary {
    /// Summarises nanosecond samples (the slice is sorted in place).
    pub fn from_ns(samples_ns: &mut [u64]) -> Summary {
        samples_ns.sort_unstable();
        let n = samples_ns.len();
        let mean_us = if n == 0 {
            f64::NAN
        } else {
            samples_ns.iter().map(|&v| v as f64).sum::<f64>() / n as f64 / 1_000.0
        };
        Summary {
            samples: n,
            median_us: quantile_us(samples_ns, 0.5),
            p95_us: quantile_us(samples_ns, 0.95),
            mean_us,
        }
    }

    /// Summarises wall-clock durations.
    pub fn from_durations(samples: &[std::time::Duration]) -> Summary {
        let mut ns: Vec<u64> = samples
            .iter()
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            .collect();
        Summary::from_ns(&mut ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let mut v: Vec<u64> = (1..=100).map(|i| i * 1_000).collect();
        v.reverse();
        let s = Summary::from_ns(&mut v);
        assert_eq!(s.samples, 100);
        assert_eq!(s.median_us, 50.0);
        assert_eq!(s.p95_us, 95.0);
        assert_eq!(s.mean_us, 50.5);
        let one = Summary::from_ns(&mut [7_000]);
        assert_eq!((one.median_us, one.p95_us), (7.0, 7.0));
        assert!(Summary::from_ns(&mut []).median_us.is_nan());
    }
}
