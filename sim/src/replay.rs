//! The discrete-event replay: streams a trace's invocations through the
//! sock-core planner and applies each plan with the cost model in virtual
//! time. Events are ordered by (time, sequence): completions due at or
//! before an arrival are processed first, in (end time, start order).
//!
//! Memory is bounded by live state (in-flight instances, the optional
//! queue, the tiers), never by trace length.

use crate::stats::Stats;
use sock_core::planner::{Action, Plan, Planner};
use sock_core::record::{InvocationRecord, RECORD_SCHEMA};
use sock_core::trace::{Invocation, TraceError};
use sock_core::{InstanceId, Micros};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io::Write;

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Trace(#[from] TraceError),
    #[error("writing records: {0}")]
    Records(#[from] std::io::Error),
}

/// Replay knobs that are mechanism, not policy.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReplayOptions {
    /// At most this many invocations run at once (e.g. the host's cores);
    /// the rest wait FIFO, and the wait is the `queue` phase. `None`:
    /// unlimited, as in SOCK's evaluation.
    pub max_concurrency: Option<usize>,
}

struct Engine<'p, 'c, 'w> {
    planner: &'p mut Planner<'c>,
    limit: usize,
    /// (end time, start sequence, instance): min-heap by time then sequence.
    inflight: BinaryHeap<Reverse<(Micros, u64, InstanceId)>>,
    queue: VecDeque<(u64, Invocation)>,
    stats: Stats,
    records: Option<&'w mut dyn Write>,
}

/// Replays `invocations` against `planner`; writes one record per
/// invocation to `records` when given, in the order invocations start.
pub fn replay<'c, I>(
    planner: &mut Planner<'c>,
    invocations: I,
    options: ReplayOptions,
    records: Option<&mut dyn Write>,
) -> Result<Stats, ReplayError>
where
    I: Iterator<Item = Result<Invocation, TraceError>>,
{
    let mut engine = Engine {
        planner,
        limit: options.max_concurrency.unwrap_or(usize::MAX).max(1),
        inflight: BinaryHeap::new(),
        queue: VecDeque::new(),
        stats: Stats::default(),
        records,
    };
    for (seq, inv) in invocations.enumerate() {
        let inv = inv?;
        engine.advance_to(inv.time)?;
        engine.planner.tick(inv.time);
        if engine.inflight.len() < engine.limit && engine.queue.is_empty() {
            // `start` records usage after the plan, at this same instant.
            engine.start(seq as u64, inv, inv.time)?;
        } else {
            engine.stats.observe_usage(inv.time, engine.planner.usage());
            engine.queue.push_back((seq as u64, inv));
        }
    }
    engine.advance_to(Micros(u64::MAX))?;
    let counters = engine.planner.counters();
    let mut stats = engine.stats;
    stats.finish(counters, engine.planner);
    Ok(stats)
}

impl Engine<'_, '_, '_> {
    /// Processes every completion due at or before `t`, starting queued
    /// invocations as slots free up.
    fn advance_to(&mut self, t: Micros) -> Result<(), ReplayError> {
        while let Some(&Reverse((end, _, instance))) = self.inflight.peek() {
            if end > t {
                break;
            }
            self.inflight.pop();
            self.planner.tick(end);
            self.planner.complete(instance, end);
            self.stats.observe_usage(end, self.planner.usage());
            while self.inflight.len() < self.limit {
                let Some((seq, inv)) = self.queue.pop_front() else {
                    break;
                };
                self.start(seq, inv, end)?;
            }
        }
        Ok(())
    }

    fn start(&mut self, seq: u64, inv: Invocation, now: Micros) -> Result<(), ReplayError> {
        let plan = self.planner.invoke(inv, now);
        let latency = plan.phases.total();
        let end = inv.time + latency;
        self.inflight.push(Reverse((end, seq, plan.instance)));
        self.stats.observe_plan(&plan, inv.time);
        self.stats.observe_usage(now, self.planner.usage());
        if let Some(out) = self.records.as_deref_mut() {
            let rec = record(self.planner, seq, inv, &plan);
            serde_json::to_writer(&mut *out, &rec).map_err(std::io::Error::from)?;
            out.write_all(b"\n")?;
        }
        Ok(())
    }
}

/// The shared per-invocation record for a plan applied in virtual time.
pub fn record(planner: &Planner<'_>, seq: u64, inv: Invocation, plan: &Plan) -> InvocationRecord {
    let catalog = planner.catalog();
    let keys = |s: &sock_core::PackageSet| s.iter().map(|p| catalog.package(p).key()).collect();
    let (zygote, depth, spare, imported, installed) = match &plan.action {
        Action::HandlerHit { .. } => (None, None, false, Vec::new(), Vec::new()),
        Action::Fork {
            zygote,
            depth,
            spare,
            import,
            install,
        } => (
            Some(zygote.0),
            Some(*depth),
            *spare,
            keys(import),
            keys(install),
        ),
        Action::Fresh { import, install } => (None, None, false, keys(import), keys(install)),
    };
    InvocationRecord {
        schema: RECORD_SCHEMA,
        seq,
        arrival_us: inv.time.0,
        function: inv.function.0,
        function_name: catalog.function(inv.function).name.clone(),
        instance: plan.instance.0,
        path: plan.action.path(),
        zygote,
        zygote_depth: depth,
        spare,
        imported,
        installed,
        phases_us: plan.phases.into(),
        latency_us: plan.phases.total().0,
    }
}
