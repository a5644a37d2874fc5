//! The engine in virtual time: each invocation completes at its start plus
//! the time its effects served it in ([`Served::Done`]). `sim` replays
//! with predicted times, `sock-exec run` (one invocation at a time) with
//! measured ones, so the two see the same event order whenever the times
//! agree.
//!
//! Events are ordered by (time, sequence): completions due at or before an
//! arrival are processed first, in (end time, start order); pre-warm timers
//! ([`Engine::timer`]) in time order among them, after completions due at
//! the same time. Timers are delivered while calls are still to come or
//! running: those still pending when the last call has completed are not
//! applied (nothing would use them). Memory is
//! bounded by live state (in-flight instances, the queue, the tiers),
//! never by trace length.

use super::{Effects, Engine, EngineError, Started};
use crate::trace::{Invocation, TraceError};
use crate::units::{InstanceId, Micros};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

#[derive(Debug, thiserror::Error)]
pub enum ReplayError<E> {
    #[error(transparent)]
    Trace(TraceError),
    #[error(transparent)]
    Effects(E),
}

/// The engine plus the completions still due in virtual time.
#[derive(Debug)]
pub struct VirtualReplay<'c> {
    engine: Engine<'c>,
    /// (end time, start sequence, instance): min-heap by time then sequence.
    inflight: BinaryHeap<Reverse<(Micros, u64, InstanceId)>>,
    /// The calls the last event started, reused so that an event costs no
    /// allocation.
    started: Vec<Started>,
}

impl<'c> VirtualReplay<'c> {
    pub fn new(engine: Engine<'c>) -> VirtualReplay<'c> {
        VirtualReplay {
            engine,
            inflight: BinaryHeap::new(),
            started: Vec::new(),
        }
    }

    pub fn engine(&self) -> &Engine<'c> {
        &self.engine
    }

    /// The engine itself, for a wall-clock driver that delivers its own
    /// completions (nothing it starts lands in this replay's schedule).
    pub fn engine_mut(&mut self) -> &mut Engine<'c> {
        &mut self.engine
    }

    /// Completions still due.
    pub fn in_flight(&self) -> usize {
        self.inflight.len()
    }

    /// Applies the start-up decisions (the first Zygotes' spares), once;
    /// `arrive` and `finish` do it too.
    pub fn start_up<E: Effects>(&mut self, fx: &mut E) -> Result<(), E::Error> {
        self.engine.start_up(fx)
    }

    /// Delivers invocation `seq` (arrivals in time order): first every
    /// completion due by its arrival, then the arrival. Returns the
    /// invocations that started at its arrival (see [`Engine::arrive`]).
    pub fn arrive<E: Effects>(
        &mut self,
        fx: &mut E,
        seq: u64,
        inv: Invocation,
    ) -> Result<Vec<Started>, E::Error> {
        self.step(fx, seq, inv)?;
        Ok(self.started.clone())
    }

    /// [`VirtualReplay::arrive`], leaving the calls started at the arrival
    /// in `self.started`.
    fn step<E: Effects>(&mut self, fx: &mut E, seq: u64, inv: Invocation) -> Result<(), E::Error> {
        self.engine.start_up(fx)?;
        self.advance_to(fx, inv.time)?;
        let mut started = std::mem::take(&mut self.started);
        started.clear();
        self.engine.arrive_into(fx, seq, inv, &mut started)?;
        for &s in &started {
            self.schedule::<E::Error>(s)?;
        }
        self.started = started;
        Ok(())
    }

    /// Completes everything still running or queued.
    pub fn finish<E: Effects>(&mut self, fx: &mut E) -> Result<(), E::Error> {
        self.engine.start_up(fx)?;
        self.advance_to(fx, Micros(u64::MAX))
    }

    pub fn into_engine(self) -> Engine<'c> {
        self.engine
    }

    /// Replays a whole trace, then finishes.
    pub fn run<E, I>(&mut self, fx: &mut E, invocations: I) -> Result<(), ReplayError<E::Error>>
    where
        E: Effects,
        I: Iterator<Item = Result<Invocation, TraceError>>,
    {
        for (seq, inv) in invocations.enumerate() {
            let inv = inv.map_err(ReplayError::Trace)?;
            self.step(fx, seq as u64, inv)
                .map_err(ReplayError::Effects)?;
        }
        self.finish(fx).map_err(ReplayError::Effects)
    }

    fn schedule<E>(&mut self, s: Started) -> Result<(), E>
    where
        E: From<EngineError>,
    {
        let service = s.service.ok_or(EngineError::NoServiceTime { seq: s.seq })?;
        self.inflight
            .push(Reverse((s.start + service, s.seq, s.instance)));
        Ok(())
    }

    /// Processes every completion due at or before `t`; queued invocations
    /// start as slots free up (and complete in turn, if due).
    fn advance_to<E: Effects>(&mut self, fx: &mut E, t: Micros) -> Result<(), E::Error> {
        let mut started = std::mem::take(&mut self.started);
        let done = self.advance_with(fx, t, &mut started);
        self.started = started;
        done
    }

    /// [`VirtualReplay::advance_to`] with a buffer for the calls started.
    fn advance_with<E: Effects>(
        &mut self,
        fx: &mut E,
        t: Micros,
        started: &mut Vec<Started>,
    ) -> Result<(), E::Error> {
        // No pre-warm pending (every policy but the hybrid): completions only.
        while !self.engine.planner().has_prewarms() {
            let Some(&Reverse((end, _, instance))) = self.inflight.peek() else {
                return Ok(());
            };
            if end > t {
                return Ok(());
            }
            self.inflight.pop();
            started.clear();
            self.engine.complete_into(fx, instance, end, started)?;
            for &s in started.iter() {
                self.schedule::<E::Error>(s)?;
            }
        }
        loop {
            let next = self.inflight.peek().map(|&Reverse(c)| c);
            // After the last call (finish with nothing running) no timer.
            let timer = if next.is_some() || t != Micros(u64::MAX) {
                self.engine.next_timer().filter(|&at| at <= t)
            } else {
                None
            };
            started.clear();
            match (next, timer) {
                (Some((end, _, instance)), timer)
                    if end <= t && timer.is_none_or(|at| end <= at) =>
                {
                    self.inflight.pop();
                    self.engine.complete_into(fx, instance, end, started)?
                }
                (_, Some(at)) => self.engine.timer_into(fx, at, started)?,
                _ => break,
            }
            for &s in started.iter() {
                self.schedule::<E::Error>(s)?;
            }
        }
        Ok(())
    }
}
