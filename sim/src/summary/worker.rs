//! The worker part of the summary (issue 10): the worker replayed on,
//! what its queue did, its memory, and the metrics the keep-alive
//! literature reports (cold-start share per function, wasted memory-time).

use super::{peak_mean, round3, PeakMean};
use crate::stats::Stats;
use serde::Serialize;
use sock_core::worker::WorkerConfig;
use std::fmt::Write as _;

#[derive(Debug, Serialize)]
pub struct WorkerSummary {
    pub config: WorkerConfig,
    /// Calls that waited for a core or for memory before they started.
    pub queued: u64,
    pub queue_peak: usize,
    /// The most calls running at once.
    pub running_peak: usize,
    pub dropped: Drops,
    /// Busy and idle handlers plus the Zygote tree.
    pub memory_mb: PeakMean,
    /// Memory-time of what was kept warm but idle (GB·s).
    pub wasted_gb_s: Wasted,
    /// Cold starts (Zygote hits and fresh starts) over calls served (%).
    pub cold_pct: f64,
    /// Percentiles over functions of each function's cold-start share
    /// (%), as Serverless in the Wild reports per app.
    pub cold_pct_per_function: ColdPercentiles,
}

#[derive(Debug, Serialize)]
pub struct Drops {
    pub total: u64,
    /// Share of all arrivals (%).
    pub pct: f64,
    /// Memory full under `when_full = drop`.
    pub full: u64,
    /// Waited `max_wait_s`.
    pub waited: u64,
    /// Bigger than the worker could ever free.
    pub too_big: u64,
}

#[derive(Debug, Serialize)]
pub struct Wasted {
    pub handler_idle: f64,
    pub zygote: f64,
}

#[derive(Debug, Serialize)]
pub struct ColdPercentiles {
    pub p50: f64,
    pub p75: f64,
    pub p90: f64,
}

impl WorkerSummary {
    pub fn new(stats: &Stats, config: WorkerConfig) -> WorkerSummary {
        let e = &stats.engine;
        let served = stats.invocations();
        let arrivals = served + e.dropped();
        let cold: u64 = stats.per_function.iter().map(|f| f.cold).sum();
        let p = stats.per_function_cold_pct(&[0.5, 0.75, 0.9]);
        let (idle, zygote) = stats.wasted_gb_s();
        WorkerSummary {
            config,
            queued: e.queued,
            queue_peak: e.queue_peak,
            running_peak: e.running_peak,
            dropped: Drops {
                total: e.dropped(),
                pct: pct(e.dropped(), arrivals),
                full: e.dropped_full,
                waited: e.dropped_waited,
                too_big: e.dropped_too_big,
            },
            memory_mb: peak_mean(&stats.usage.worker, stats.span().0),
            wasted_gb_s: Wasted {
                handler_idle: round3(idle),
                zygote: round3(zygote),
            },
            cold_pct: pct(cold, served),
            cold_pct_per_function: ColdPercentiles {
                p50: round3(p[0]),
                p75: round3(p[1]),
                p90: round3(p[2]),
            },
        }
    }

    /// The text lines of the report.
    pub fn write_text(&self, s: &mut String) {
        let d = &self.dropped;
        let _ = writeln!(
            s,
            "worker         running peak {}  queued {} (queue peak {})  dropped {} ({:.2}%: {} full, {} waited, {} too big)",
            self.running_peak, self.queued, self.queue_peak, d.total, d.pct, d.full, d.waited, d.too_big
        );
        let c = &self.cold_pct_per_function;
        let _ = writeln!(
            s,
            "cold starts    {:.2}% of calls; per function p50 {:.1}%  p75 {:.1}%  p90 {:.1}%",
            self.cold_pct, c.p50, c.p75, c.p90
        );
        let w = &self.wasted_gb_s;
        let _ = writeln!(
            s,
            "idle memory    {:.1} GB·s handlers, {:.1} GB·s Zygotes",
            w.handler_idle, w.zygote
        );
    }
}

fn pct(n: u64, of: u64) -> f64 {
    if of == 0 {
        0.0
    } else {
        round3(100.0 * n as f64 / of as f64)
    }
}
