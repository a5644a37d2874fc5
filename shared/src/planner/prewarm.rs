//! Pre-warming (issue 10): a keep-alive policy (the Hybrid Histogram) asks,
//! when a call of `f` ends, for a new instance of `f` at a later time `at`
//! ([`crate::handler_cache::Retain::Prewarm`]). The planner keeps one
//! pending pre-warm per function (a newer request replaces it; a call of
//! `f` arriving first cancels it) and materializes it in
//! [`Planner::tick`] at the first event at or after `at`: an idle instance
//! of `f`, idle and charged to memory from `at`, announced as
//! [`SideDecision::Prewarm`]. Expiries due before `at` are applied first,
//! so the state it sees is the state at `at`.
//!
//! A pre-warm evicts nothing: it needs its function's memory free in the
//! worker ([`Planner::memory_free`]) and room in the handler budget, else
//! it is skipped and counted (`Counters::prewarms_skipped`). Its packages
//! are installed (and pinned) as a cold start's would be; Zygotes are not
//! used (it is off the critical path).

use super::{Planner, SideDecision};
use crate::handler_cache::ColdCosts;
use crate::units::{Bytes, FunctionId, Micros};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Pending pre-warms: a min-heap by (time, request number), and per
/// function the request that is still live (older entries are stale).
#[derive(Debug, Default)]
pub(super) struct Pending {
    heap: BinaryHeap<Reverse<(Micros, u64, FunctionId)>>,
    live: Vec<Option<u64>>,
    next: u64,
}

impl Pending {
    pub(super) fn new(functions: usize) -> Pending {
        Pending {
            live: vec![None; functions],
            ..Pending::default()
        }
    }

    #[inline]
    pub(super) fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Drops stale entries at the top; the time of the next live one.
    fn next_due(&mut self) -> Option<Micros> {
        while let Some(&Reverse((at, n, f))) = self.heap.peek() {
            if self.live[f.index()] == Some(n) {
                return Some(at);
            }
            self.heap.pop();
        }
        None
    }
}

impl Planner<'_> {
    /// Whether any pre-warm entry is queued (perhaps stale): when not,
    /// there is no timer to deliver.
    #[inline]
    pub fn has_prewarms(&self) -> bool {
        !self.prewarms.is_empty()
    }

    /// When the next pending pre-warm is due (an engine timer event).
    pub fn next_prewarm(&mut self) -> Option<Micros> {
        self.prewarms.next_due()
    }

    /// Pre-warms still pending (not yet due or cancelled).
    pub fn pending_prewarms(&self) -> usize {
        self.prewarms.live.iter().filter(|l| l.is_some()).count()
    }

    pub(super) fn cold_costs_of(&self, f: FunctionId) -> ColdCosts {
        ColdCosts {
            cold: self.cold_costs[f.index()],
            cold_minus_warm: self.cold_minus_warm[f.index()],
        }
    }

    pub(super) fn schedule_prewarm(&mut self, f: FunctionId, at: Micros) {
        let p = &mut self.prewarms;
        if p.live[f.index()].is_some() {
            self.counters.prewarms_cancelled += 1;
        }
        let n = p.next;
        p.next += 1;
        p.live[f.index()] = Some(n);
        p.heap.push(Reverse((at, n, f)));
    }

    /// A call of `f` arrived: its pending pre-warm (if any) is cancelled.
    pub(super) fn cancel_prewarm(&mut self, f: FunctionId) {
        if let Some(l) = self.prewarms.live.get_mut(f.index()) {
            if l.take().is_some() {
                self.counters.prewarms_cancelled += 1;
            }
        }
    }

    /// [`Planner::tick`] with pre-warms pending.
    pub(super) fn tick_prewarms(&mut self, now: Micros) -> Vec<SideDecision> {
        let mut side = Vec::new();
        while let Some(at) = self.prewarms.next_due() {
            if at > now {
                break;
            }
            let Some(Reverse((_, _, f))) = self.prewarms.heap.pop() else {
                break;
            };
            self.prewarms.live[f.index()] = None;
            side.extend(self.expire(at));
            self.materialize(f, at, &mut side);
        }
        side.extend(self.expire(now));
        side
    }

    fn materialize(&mut self, f: FunctionId, at: Micros, side: &mut Vec<SideDecision>) {
        let memory = Bytes::from_mb_f64(self.catalog.function(f).memory_mb);
        if memory > self.memory_free() || !self.handlers.fits_idle(memory) {
            self.counters.prewarms_skipped += 1;
            return;
        }
        let need = self.catalog.closure(f);
        let ensured = self.installs.ensure(need, at, self.catalog);
        self.count_install(&ensured.installed, &ensured.uncached, ensured.hits);
        self.counters.package_evictions += ensured.evicted.len() as u64;
        side.extend(
            ensured
                .evicted
                .iter()
                .map(|&package| SideDecision::EvictPackage { package }),
        );
        let pinned = self.installs.pin(need);
        let costs = self.cold_costs_of(f);
        match self.handlers.prewarm(f, memory, pinned.clone(), at, costs) {
            Some(instance) => {
                self.counters.prewarms += 1;
                side.push(SideDecision::Prewarm {
                    function: f,
                    instance,
                    at,
                });
            }
            None => {
                self.installs.unpin(&pinned);
                self.counters.prewarms_skipped += 1;
            }
        }
    }
}
