//! What a replay measures: latency histograms overall and per path, path
//! and depth counts, mean phase times, and time-weighted memory per tier.

use crate::histogram::Histogram;
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
}

impl Stats {
    pub fn invocations(&self) -> u64 {
        self.all.count()
    }

    /// Virtual time spanned from the first arrival to the last event.
    pub fn span(&self) -> Micros {
        self.end - self.first_arrival.unwrap_or(Micros::ZERO)
    }

    pub(crate) fn observe_plan(&mut self, plan: &Plan, arrival: Micros) {
        let total = plan.phases.total().0;
        self.all.record(total);
        self.by_path
            .entry(plan.action.path())
            .or_default()
            .record(total);
        let startup = total - plan.phases.handler.0;
        self.startup.record(startup);
        self.startup_by_path
            .entry(plan.action.path())
            .or_default()
            .record(startup);
        if let Action::Fork { depth, .. } = plan.action {
            *self.by_depth.entry(depth).or_insert(0) += 1;
        }
        for (sum, v) in self.phase_sums.iter_mut().zip(plan.phases.values()) {
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
