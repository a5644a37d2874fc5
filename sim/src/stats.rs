//! What a replay measures: latency histograms overall and per path, path
//! and depth counts, mean phase times, and time-weighted memory per tier.

use crate::histogram::Histogram;
use sock_core::cost::Phases;
use sock_core::engine::{Dropped, EngineOptions, EngineStats};
use sock_core::planner::{Action, Counters, Plan, Planner, TierUsage};
use sock_core::record::PathKind;
use sock_core::{Bytes, Micros};
use std::collections::BTreeMap;

/// Peak and time-weighted mean of one quantity.
#[derive(Clone, Copy, Debug, Default)]
pub struct TimeWeighted {
    pub peak: u64,
    area: u128,
    last_value: u64,
}

impl TimeWeighted {
    fn observe(&mut self, dt: u64, value: u64) {
        self.area += self.last_value as u128 * dt as u128;
        self.last_value = value;
        self.peak = self.peak.max(value);
    }

    /// The integral over time (value x µs).
    pub fn area(&self) -> u128 {
        self.area
    }

    pub fn mean(&self, span: u64) -> f64 {
        if span == 0 {
            self.last_value as f64
        } else {
            self.area as f64 / span as f64
        }
    }
}

/// Per-tier usage over time.
#[derive(Clone, Copy, Debug, Default)]
pub struct TierSeries {
    pub handler_idle: TimeWeighted,
    pub handler_busy: TimeWeighted,
    pub zygote: TimeWeighted,
    pub install: TimeWeighted,
    /// The worker's memory: busy and idle handlers plus the Zygote tree.
    pub worker: TimeWeighted,
}

#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub all: Histogram,
    pub by_path: BTreeMap<PathKind, Histogram>,
    /// Latency minus the handler phase (provisioning cost only).
    pub startup: Histogram,
    pub startup_by_path: BTreeMap<PathKind, Histogram>,
    /// Zygote hits per tree depth (root = 0).
    pub by_depth: BTreeMap<u32, u64>,
    /// Sum of each phase over all invocations, in [`sock_core::cost::Phases::NAMES`] order.
    pub phase_sums: [u128; 8],
    pub first_arrival: Option<Micros>,
    pub last_arrival: Micros,
    /// The time of the last event seen (arrival or completion).
    pub end: Micros,
    pub usage: TierSeries,
    pub counters: Counters,
    pub zygotes_live_at_end: usize,
    pub installed_at_end: usize,
    /// The worker replayed on, and what its queue did.
    pub worker: EngineOptions,
    pub engine: EngineStats,
    /// Per function index: (calls served, cold starts among them, dropped).
    pub per_function: Vec<FunctionCounts>,
    /// Each tier's memory over time, when asked for
    /// ([`crate::replay::ReplayOptions::memory_series`]).
    pub memory_series: Option<crate::memory_series::MemorySeries>,
}

/// One function's calls, for the per-function cold-start share.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FunctionCounts {
    pub served: u64,
    pub cold: u64,
    pub dropped: u64,
}

impl Stats {
    pub fn invocations(&self) -> u64 {
        self.all.count()
    }

    /// Virtual time spanned from the first arrival to the last event.
    pub fn span(&self) -> Micros {
        self.end - self.first_arrival.unwrap_or(Micros::ZERO)
    }

    /// One served call: its plan, and the phases it took (the plan's, plus
    /// any set-up loop wait).
    pub(crate) fn observe_plan(&mut self, plan: &Plan, phases: &Phases, arrival: Micros) {
        let total = phases.total().0;
        self.all.record(total);
        self.by_path
            .entry(plan.action.path())
            .or_default()
            .record(total);
        let startup = total - phases.handler.0;
        self.startup.record(startup);
        self.startup_by_path
            .entry(plan.action.path())
            .or_default()
            .record(startup);
        if let Action::Fork { depth, .. } = plan.action {
            *self.by_depth.entry(depth).or_insert(0) += 1;
        }
        let f = self.function_mut(plan.function.index());
        f.served += 1;
        f.cold += u64::from(!matches!(plan.action, Action::HandlerHit { .. }));
        for (sum, v) in self.phase_sums.iter_mut().zip(phases.values()) {
            *sum += v.0 as u128;
        }
        self.first_arrival.get_or_insert(arrival);
        self.last_arrival = arrival;
    }

    pub(crate) fn observe_usage(&mut self, t: Micros, u: TierUsage) {
        let start = *self.first_arrival.get_or_insert(t);
        // Events arrive in non-decreasing time; the first one opens the window.
        let dt = if self.end < start {
            0
        } else {
            t.0.saturating_sub(self.end.0)
        };
        self.end = self.end.max(t);
        let s = &mut self.usage;
        s.handler_idle.observe(dt, u.handler_idle.0);
        s.handler_busy.observe(dt, u.handler_busy.0);
        s.zygote.observe(dt, u.zygote.0);
        s.install.observe(dt, u.install.0);
        let worker = u.handler_idle + u.handler_busy + u.zygote;
        s.worker.observe(dt, worker.0);
    }

    pub(crate) fn observe_drop(&mut self, d: &Dropped) {
        self.function_mut(d.inv.function.index()).dropped += 1;
    }

    fn function_mut(&mut self, i: usize) -> &mut FunctionCounts {
        if self.per_function.len() <= i {
            self.per_function.resize(i + 1, FunctionCounts::default());
        }
        &mut self.per_function[i]
    }

    /// Each function's cold-start share (%), over functions with at least
    /// one call served, ascending.
    pub fn per_function_cold_shares(&self) -> Vec<f64> {
        let mut shares: Vec<f64> = self
            .per_function
            .iter()
            .filter(|f| f.served > 0)
            .map(|f| 100.0 * f.cold as f64 / f.served as f64)
            .collect();
        shares.sort_by(f64::total_cmp);
        shares
    }

    /// Percentiles (nearest rank) of the per-function cold-start share
    /// (%), over functions with at least one call served.
    pub fn per_function_cold_pct(&self, percentiles: &[f64]) -> Vec<f64> {
        let shares = self.per_function_cold_shares();
        percentiles
            .iter()
            .map(|&p| sock_core::quantile::nearest_rank(&shares, p).unwrap_or(0.0))
            .collect()
    }

    /// Memory-time of idle handler instances and of the Zygote tree
    /// (GB·s): what keeping things warm cost.
    pub fn wasted_gb_s(&self) -> (f64, f64) {
        let gb_s = |a: u128| a as f64 / 1e9 / 1e6;
        (
            gb_s(self.usage.handler_idle.area()),
            gb_s(self.usage.zygote.area()),
        )
    }

    pub(crate) fn finish(&mut self, counters: Counters, planner: &Planner<'_>) {
        self.counters = counters;
        self.zygotes_live_at_end = planner.tree().map_or(0, |t| t.len());
        self.installed_at_end = planner.installs().len();
    }
}

pub fn mb(bytes: u64) -> f64 {
    Bytes(bytes).as_mb_f64()
}
