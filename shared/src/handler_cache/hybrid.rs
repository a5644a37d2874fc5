//! The Hybrid Histogram keep-alive policy (Shahrad et al., "Serverless in
//! the Wild", USENIX ATC'20, section 4.2), per function.
//!
//! Idle time, as the paper defines it: from the end of one call to the
//! arrival of the next call of the same function (with concurrent calls,
//! from the latest end). Idle times go into a histogram of `range_min`
//! one-minute bins (4 hours by default); longer ones are counted as
//! *out of bounds* ([`PolicyStats::out_of_bounds`]).
//!
//! After each call of `f` ends, the policy computes two windows, both
//! measured from that end:
//! - the histogram is **representative** when it holds at least
//!   `min_samples` idle times, out-of-bounds ones are not the majority,
//!   and the coefficient of variation of its bin counts is at least
//!   `cv_min` (a few tall bins: a clear pattern; a flat histogram has a
//!   low CV). Then the *head* is the lower edge of the bin holding the
//!   `prewarm_pct` percentile and the *tail* the upper edge of the bin
//!   holding the `keepalive_pct` percentile; pre-warm = head shrunk by
//!   `margin_pct`, keep-alive = tail grown by `margin_pct` (the paper's 5th
//!   / 99th percentiles and 10% margins);
//! - otherwise pre-warm = 0 and keep-alive = `fallback_s` (the paper's
//!   standard keep-alive over the histogram's range, 4 hours). The paper
//!   forecasts out-of-bounds idle times with ARIMA; this policy does not,
//!   it falls back and counts them.
//!
//! With pre-warm 0 the instance is kept (paused) until `end + keep-alive`.
//! With pre-warm > 0 it is destroyed now ([`Retain::Prewarm`]) and a new
//! instance is pre-warmed at `end + pre-warm`, kept until `end +
//! keep-alive` (the planner schedules it, [`crate::planner`]). A call of
//! `f` arriving before a pending pre-warm cancels it. Under memory
//! pressure the least recently idled instance goes first (as under the
//! TTL; "closest to its end" would evict the frequent functions' short
//! windows before the 4-hour fallbacks of rare ones).

use super::deadlines::Deadlines;
use super::policy::{
    IdleInfo, KeepAliveDecision, KeepAlivePolicy, PolicyStats, ReleaseInfo, Retain,
};
use crate::units::{FunctionId, InstanceId, Micros};
use serde::Serialize;

/// The `hybrid` policy's keys, with their defaults.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HybridConfig {
    /// Histogram range in one-minute bins (paper: 4 hours, 240).
    pub range_min: u32,
    /// Percentile of the head, the pre-warm window (paper: 5).
    pub prewarm_pct: f64,
    /// Percentile of the tail, the keep-alive window (paper: 99).
    pub keepalive_pct: f64,
    /// Pre-warm shrinks and keep-alive grows by this much (paper: 10%).
    pub margin_pct: f64,
    /// Fewest idle times for a representative histogram (ours: 10; the
    /// paper names no number).
    pub min_samples: u64,
    /// Smallest coefficient of variation of the bin counts for a
    /// representative histogram (2, the threshold the paper uses).
    pub cv_min: f64,
    /// Keep-alive while not representative (s; paper: the range, 4 h).
    pub fallback_s: f64,
}

impl Default for HybridConfig {
    fn default() -> Self {
        HybridConfig {
            range_min: 240,
            prewarm_pct: 5.0,
            keepalive_pct: 99.0,
            margin_pct: 10.0,
            min_samples: 10,
            cv_min: 2.0,
            fallback_s: 4.0 * 3600.0,
        }
    }
}

impl HybridConfig {
    pub(super) fn numbers(&self) -> Vec<(&'static str, f64, f64)> {
        vec![
            ("handler.policy.range_min", f64::from(self.range_min), 1e6),
            ("handler.policy.prewarm_pct", self.prewarm_pct, 100.0),
            ("handler.policy.keepalive_pct", self.keepalive_pct, 100.0),
            ("handler.policy.margin_pct", self.margin_pct, 100.0),
            ("handler.policy.min_samples", self.min_samples as f64, 1e15),
            ("handler.policy.cv_min", self.cv_min, 1e6),
            (
                "handler.policy.fallback_s",
                self.fallback_s,
                crate::units::MAX_MS / 1000.0,
            ),
        ]
    }

    pub(super) fn describe(&self) -> String {
        format!(
            "hybrid histogram ({} min, p{} / p{}, margin {}%, fallback {} s)",
            self.range_min, self.prewarm_pct, self.keepalive_pct, self.margin_pct, self.fallback_s
        )
    }
}

/// One function's idle-time histogram.
#[derive(Debug)]
struct Hist {
    bins: Vec<u32>,
    /// Idle times in range, the sum of squared bin counts (for the CV).
    n: u64,
    sum_sq: u64,
    oob: u64,
}

/// The windows computed at a function's last release, from its end.
#[derive(Clone, Copy, Debug, Default)]
struct Windows {
    prewarm: Micros,
    keepalive: Micros,
}

const MINUTE: Micros = Micros(60_000_000);

#[derive(Debug)]
pub struct Hybrid {
    c: HybridConfig,
    fallback: Micros,
    hists: Vec<Option<Box<Hist>>>,
    last_end: Vec<Option<Micros>>,
    windows: Vec<Windows>,
    /// Idle instances: their deadlines and eviction order.
    idle: Deadlines,
    stats: PolicyStats,
}

impl Hybrid {
    pub fn new(mut c: HybridConfig) -> Hybrid {
        c.range_min = c.range_min.max(1);
        Hybrid {
            fallback: Micros::from_ms_f64(c.fallback_s * 1000.0),
            c,
            hists: Vec::new(),
            last_end: Vec::new(),
            windows: Vec::new(),
            idle: Deadlines::default(),
            stats: PolicyStats::default(),
        }
    }

    fn record(&mut self, f: FunctionId, idle: Micros) {
        let i = f.index();
        if self.hists.len() <= i {
            self.hists.resize_with(i + 1, || None);
        }
        let range = self.c.range_min as usize;
        let h = self.hists[i].get_or_insert_with(|| {
            Box::new(Hist {
                bins: vec![0; range],
                n: 0,
                sum_sq: 0,
                oob: 0,
            })
        });
        self.stats.idle_times += 1;
        let bin = (idle.0 / MINUTE.0) as usize;
        if bin >= range {
            h.oob += 1;
            self.stats.out_of_bounds += 1;
            return;
        }
        let c = u64::from(h.bins[bin]);
        h.bins[bin] += 1;
        h.sum_sq += 2 * c + 1;
        h.n += 1;
    }

    /// The windows for `f` from its histogram now.
    fn windows(&mut self, f: FunctionId) -> Windows {
        let fallback = Windows {
            prewarm: Micros::ZERO,
            keepalive: self.fallback,
        };
        let Some(h) = self.hists.get(f.index()).and_then(|h| h.as_deref()) else {
            self.stats.fallbacks += 1;
            return fallback;
        };
        if h.n < self.c.min_samples.max(1) || h.oob > h.n || cv(h) < self.c.cv_min {
            self.stats.fallbacks += 1;
            return fallback;
        }
        let head = percentile_bin(h, self.c.prewarm_pct) as f64;
        let tail = (percentile_bin(h, self.c.keepalive_pct) + 1) as f64;
        let m = self.c.margin_pct / 100.0;
        let minute_ms = MINUTE.as_ms_f64();
        self.stats.from_histogram += 1;
        Windows {
            prewarm: Micros::from_ms_f64(head * (1.0 - m).max(0.0) * minute_ms),
            keepalive: Micros::from_ms_f64(tail * (1.0 + m) * minute_ms),
        }
    }
}

/// Coefficient of variation of the bin counts (population standard
/// deviation over the mean, every bin of the range counted).
fn cv(h: &Hist) -> f64 {
    let bins = h.bins.len() as f64;
    let mean = h.n as f64 / bins;
    if mean == 0.0 {
        return 0.0;
    }
    let var = (h.sum_sq as f64 / bins - mean * mean).max(0.0);
    var.sqrt() / mean
}

/// The bin holding the `pct` percentile: the first whose cumulative count
/// reaches `ceil(pct% of n)` (at least 1).
fn percentile_bin(h: &Hist, pct: f64) -> usize {
    let want = ((pct / 100.0 * h.n as f64).ceil() as u64).max(1);
    let mut cum = 0u64;
    for (b, &c) in h.bins.iter().enumerate() {
        cum += u64::from(c);
        if cum >= want {
            return b;
        }
    }
    h.bins.len() - 1
}

impl KeepAlivePolicy for Hybrid {
    fn name(&self) -> &'static str {
        "hybrid"
    }

    fn on_arrival(&mut self, function: FunctionId, at: Micros) {
        let last = self
            .last_end
            .get_mut(function.index())
            .and_then(Option::take);
        if let Some(end) = last {
            self.record(function, Micros(at.0.saturating_sub(end.0)));
        }
    }

    fn on_release(&mut self, info: ReleaseInfo) -> Retain {
        let i = info.function.index();
        if self.last_end.len() <= i {
            self.last_end.resize(i + 1, None);
            self.windows.resize(i + 1, Windows::default());
        }
        self.last_end[i] = Some(info.now);
        let w = self.windows(info.function);
        self.windows[i] = w;
        if w.prewarm > Micros::ZERO {
            Retain::Prewarm {
                at: info.now + w.prewarm,
            }
        } else {
            Retain::Keep
        }
    }

    fn on_idle(&mut self, info: IdleInfo) {
        let w = self
            .windows
            .get(info.function.index())
            .copied()
            .unwrap_or(Windows {
                prewarm: Micros::ZERO,
                keepalive: self.fallback,
            });
        // A pre-warmed instance appears at end + pre-warm and lives until
        // end + keep-alive; a kept one from the end.
        let keep = Micros(w.keepalive.0.saturating_sub(w.prewarm.0));
        let end = info.now + keep;
        self.idle.insert(info.instance, end, info.now);
    }

    fn on_leave(&mut self, instance: InstanceId) {
        self.idle.remove(instance);
    }

    fn choose_victim(&mut self) -> KeepAliveDecision {
        self.idle.victim()
    }

    fn expired(&mut self, now: Micros) -> Vec<InstanceId> {
        self.idle.expired(now)
    }

    fn stats(&self) -> PolicyStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_cv_of_a_single_peak() {
        let mut p = Hybrid::new(HybridConfig::default());
        let f = FunctionId(0);
        for _ in 0..20 {
            p.record(f, Micros(9 * 60_000_000 + 59_000_000));
        }
        let h = p.hists[0].as_deref().expect("hist");
        assert_eq!((percentile_bin(h, 5.0), percentile_bin(h, 99.0)), (9, 9));
        assert!((cv(h) - 239f64.sqrt()).abs() < 1e-9, "{}", cv(h));
        let w = p.windows(f);
        assert_eq!(w.prewarm, Micros::from_ms_f64(9.0 * 0.9 * 60_000.0));
        assert_eq!(w.keepalive, Micros::from_ms_f64(10.0 * 1.1 * 60_000.0));
        p.record(f, Micros(300 * 60_000_000));
        assert_eq!(p.stats().out_of_bounds, 1);
    }
}
