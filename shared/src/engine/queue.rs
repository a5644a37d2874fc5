//! The engine's queue in front of the worker (issue 10): one FIFO for
//! calls waiting for a core or for memory, the maximum wait, and drops.
//!
//! No overtaking: while the head waits for memory, calls behind it wait
//! too, even ones that would fit (a head-of-line rule, as a FIFO admission
//! queue has; it keeps the order sim and sock-exec start calls in the
//! same). Waits are checked at every event: at an event at `t`, a queued
//! call that arrived at `a` is dropped when `a + max_wait < t`, so a call
//! whose wait ends exactly when a slot frees still starts.

use super::{Effects, Engine, Started};
use crate::planner::Admission;
use crate::trace::Invocation;
use crate::units::{Bytes, Micros};
use crate::worker::{DropReason, WhenFull, WorkerConfig};
use std::collections::VecDeque;

/// Mechanism knobs of the worker (policy is the planner's config).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineOptions {
    /// At most this many invocations run at once; the rest wait FIFO.
    /// `None`: unlimited, as in SOCK's evaluation.
    pub cores: Option<usize>,
    /// Memory shared by every sandbox; `None`: unbounded.
    pub memory: Option<Bytes>,
    pub when_full: WhenFull,
    /// Longest wait in the queue before a call is dropped; `None`: no limit.
    pub max_wait: Option<Micros>,
}

impl Default for EngineOptions {
    /// Unbounded: every call starts at its arrival.
    fn default() -> Self {
        EngineOptions::from_worker(&WorkerConfig::unbounded())
    }
}

impl EngineOptions {
    /// The engine's form of a (checked, [`WorkerConfig::check`]) worker.
    pub fn from_worker(w: &WorkerConfig) -> EngineOptions {
        EngineOptions {
            cores: w.cores,
            memory: w.memory_mb.map(Bytes::from_mb_f64),
            when_full: w.when_full,
            max_wait: w.max_wait_s.map(|s| Micros::from_ms_f64(s * 1000.0)),
        }
    }

    fn limit(&self) -> usize {
        self.cores.unwrap_or(usize::MAX).max(1)
    }
}

/// What the queue did over a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Calls that started after their arrival (waited for a core or memory).
    pub queued: u64,
    /// The longest the queue got.
    pub queue_peak: usize,
    /// The most calls running at once.
    pub running_peak: usize,
    /// Dropped: memory full under `when_full = drop`.
    pub dropped_full: u64,
    /// Dropped after waiting `max_wait`.
    pub dropped_waited: u64,
    /// Dropped: bigger than the worker could ever free.
    pub dropped_too_big: u64,
}

impl EngineStats {
    pub fn dropped(&self) -> u64 {
        self.dropped_full + self.dropped_waited + self.dropped_too_big
    }

    fn count(&mut self, reason: DropReason) {
        match reason {
            DropReason::Full => self.dropped_full += 1,
            DropReason::Waited => self.dropped_waited += 1,
            DropReason::TooBig => self.dropped_too_big += 1,
        }
    }
}

/// A call that was dropped: never started, no record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dropped {
    pub seq: u64,
    pub inv: Invocation,
    /// When it was dropped.
    pub at: Micros,
    pub reason: DropReason,
}

/// Waiting calls in arrival order.
#[derive(Debug, Default)]
pub(super) struct Queue(VecDeque<(u64, Invocation)>);

impl Queue {
    pub(super) fn push(&mut self, seq: u64, inv: Invocation) {
        self.0.push_back((seq, inv));
    }

    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Engine<'_> {
    /// Drops calls that waited too long by `now`, then starts calls from
    /// the head while a core is free and the head fits; appends them to
    /// `started`.
    pub(super) fn pump<E: Effects>(
        &mut self,
        fx: &mut E,
        now: Micros,
        started: &mut Vec<Started>,
    ) -> Result<(), E::Error> {
        loop {
            if let Some(wait) = self.options.max_wait {
                while let Some(&(seq, inv)) = self.queue.0.front() {
                    if inv.time.0.saturating_add(wait.0) >= now.0 {
                        break;
                    }
                    self.queue.0.pop_front();
                    self.drop_call(fx, seq, inv, now, DropReason::Waited);
                }
            }
            if self.running >= self.options.limit() {
                break;
            }
            let Some(&(seq, inv)) = self.queue.0.front() else {
                break;
            };
            match self.planner.admit(inv.function) {
                Admission::Fits(side) => {
                    self.queue.0.pop_front();
                    fx.apply(&self.planner, &side, now)?;
                    started.push(self.start(fx, seq, inv, now)?);
                }
                Admission::TooBig => {
                    self.queue.0.pop_front();
                    self.drop_call(fx, seq, inv, now, DropReason::TooBig);
                }
                Admission::Full
                    if self.options.when_full == WhenFull::Drop || self.running == 0 =>
                {
                    // With nothing running nothing will free memory:
                    // waiting would never end (the planner's TooBig test
                    // makes this unreachable; stay safe).
                    self.queue.0.pop_front();
                    self.drop_call(fx, seq, inv, now, DropReason::Full);
                }
                Admission::Full => break,
            }
        }
        Ok(())
    }

    fn drop_call<E: Effects>(
        &mut self,
        fx: &mut E,
        seq: u64,
        inv: Invocation,
        at: Micros,
        reason: DropReason,
    ) {
        self.stats.count(reason);
        let call = Dropped {
            seq,
            inv,
            at,
            reason,
        };
        fx.dropped(&self.planner, &call);
    }
}
