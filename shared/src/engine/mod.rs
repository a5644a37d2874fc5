//! The one engine sim and sock-exec both run (issue 12): arrivals, the
//! in-flight set, the FIFO queue in front of the worker's concurrency
//! limit, completions, keep-alive expiry, and failures with their
//! fallbacks and repairs. Time and effects are injected, as in
//! FoundationDB's simulator or madsim: the engine decides *what* happens
//! and *when* in the order of events; an [`Effects`] applies it — `sim`
//! with the cost model in virtual time, `sock-exec` with real containers
//! and measured times.
//!
//! The engine is an event-driven state machine: the caller delivers each
//! event in time order ([`Engine::arrive`], [`Engine::complete`]) and learns
//! which invocations started ([`Started`]). [`VirtualReplay`] is the driver
//! for virtual time (completions due at start plus the served time); a
//! wall-clock driver (sock-exec's concurrent replay) calls the same two
//! methods as responses arrive.
//!
//! The worker (issue 10, [`crate::worker`]) bounds it: at most `cores`
//! calls run, and a call starts only when its memory fits
//! ([`Planner::admit`]); the rest wait in one FIFO queue, or are dropped.
//!
//! Per event, in this order:
//! - **arrival** at `t`: expire idle handlers due by `t` (`Planner::tick`);
//!   drop queued calls that waited longer than `max_wait` by `t`; queue
//!   the call; start queued calls (below).
//! - **start** of the queue's head at `now`, while a core is free: ask the
//!   planner whether it fits. It fits (after the evictions the planner
//!   chose): plan it, apply the plan's `before`, serve it; if serving
//!   fails, the planner learns why ([`Planner::on_failure`]) and the
//!   fallback plan is applied the same way; then apply its `after`. It
//!   does not fit: with `when_full = drop` it is dropped, with `queue` it
//!   and everything behind it waits (FIFO, no overtaking) for a
//!   completion. A call that can never fit is dropped at once. The wait
//!   becomes the `queue` phase.
//! - **completion** at `t`: expire, then pause or destroy the instance
//!   (`Planner::complete`), drop calls that waited too long, then start
//!   queued calls, each at `t`.
//! - **pre-warm timer** at `t` (issue 10, the Hybrid Histogram policy):
//!   the planner holds the pre-warms its keep-alive policy asked for
//!   ([`Planner::next_prewarm`]); [`Engine::timer`] at `t` runs
//!   `Planner::tick`, which materializes each pre-warm due by `t` at its
//!   own time (after the expiries due by then) as an idle instance and a
//!   [`SideDecision::Prewarm`] to apply, then starts queued calls (expiry
//!   may have freed memory). [`VirtualReplay`] delivers it as an event of
//!   its own, between completions and arrivals in time order (at equal
//!   times: completions, then the timer, then the arrival, so a pre-warm
//!   due exactly at an arrival serves it). sock-exec's concurrent replay
//!   does the same in wall-clock time (its poll timeout includes the next
//!   timer's due instant). With no pre-warm pending (every other policy)
//!   there is no timer event, and nothing changes.
//! - **late failure** (a wall-clock driver only): a call that was
//!   `Running` could not start after all (its Zygote died while it waited
//!   for its install): [`Engine::fail_running`] asks the planner for the
//!   fallback and serves it in the same slot.

mod queue;
mod virtual_time;

pub use queue::{Dropped, EngineOptions, EngineStats};
pub use virtual_time::{ReplayError, VirtualReplay};

use crate::planner::{Failure, Plan, Planner, SideDecision, TierUsage};
use crate::trace::Invocation;
use crate::units::{InstanceId, Micros};

/// Fallbacks per invocation before the engine gives up: each failure takes
/// a handler or a Zygote out of the choice, so real runs stop far sooner.
pub const MAX_ATTEMPTS: u32 = 16;

/// One invocation being started, as the effects see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Call {
    /// Its position in the trace.
    pub seq: u64,
    pub inv: Invocation,
    /// When it starts (its arrival, or later after a queue wait).
    pub start: Micros,
    /// 0 for the first plan, then one more per fallback.
    pub attempt: u32,
}

/// How serving a plan went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Served {
    /// Served; it completes `service` after its start (virtual time: sim's
    /// predicted latency without the queue wait, sock-exec's measured one).
    Done { service: Micros },
    /// Still running; the caller delivers its completion later
    /// ([`Engine::complete`]).
    Running,
    /// Could not be served: the engine asks the planner for a fallback.
    Failed(Failure),
}

/// What the engine needs done: sim implements it with the cost model,
/// sock-exec with real containers.
pub trait Effects {
    type Error: From<EngineError>;

    /// Applies side decisions at `now`, in order.
    fn apply(
        &mut self,
        planner: &Planner<'_>,
        decisions: &[SideDecision],
        now: Micros,
    ) -> Result<(), Self::Error>;

    /// Serves `plan` for `call` (the critical path).
    fn serve(
        &mut self,
        planner: &Planner<'_>,
        call: &Call,
        plan: &Plan,
    ) -> Result<Served, Self::Error>;

    /// The tiers' usage right after an event at `now` (for memory over
    /// time); nothing by default.
    fn observe(&mut self, _now: Micros, _usage: TierUsage) {}

    /// A call was dropped (the engine counts it too, [`EngineStats`]);
    /// nothing by default.
    fn dropped(&mut self, _planner: &Planner<'_>, _call: &Dropped) {}
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EngineError {
    #[error("invocation {seq}: {failure:?} is no failure of a {path} plan, so the planner has no fallback for it")]
    NoFallback {
        seq: u64,
        failure: Failure,
        path: &'static str,
    },
    #[error("invocation {seq}: still failing after {attempts} fallbacks")]
    Exhausted { seq: u64, attempts: u32 },
    #[error("invocation {seq}: served without a service time, which a virtual-time replay needs")]
    NoServiceTime { seq: u64 },
}

/// An invocation that started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Started {
    pub seq: u64,
    pub instance: InstanceId,
    pub start: Micros,
    /// From [`Served::Done`]; `None` when it is still running.
    pub service: Option<Micros>,
}

/// The engine: the planner plus the in-flight count and the queue.
#[derive(Debug)]
pub struct Engine<'c> {
    planner: Planner<'c>,
    options: EngineOptions,
    running: usize,
    queue: queue::Queue,
    stats: EngineStats,
    started_up: bool,
}

impl<'c> Engine<'c> {
    /// The engine over `planner`, whose memory it bounds by the worker's.
    pub fn new(mut planner: Planner<'c>, options: EngineOptions) -> Engine<'c> {
        planner.set_worker_memory(options.memory);
        Engine {
            planner,
            options,
            running: 0,
            queue: queue::Queue::default(),
            stats: EngineStats::default(),
            started_up: false,
        }
    }

    pub fn planner(&self) -> &Planner<'c> {
        &self.planner
    }

    pub fn into_planner(self) -> Planner<'c> {
        self.planner
    }

    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    /// Invocations running now, and waiting in the queue.
    pub fn running(&self) -> usize {
        self.running
    }

    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    pub fn queue_peak(&self) -> usize {
        self.stats.queue_peak
    }

    /// Calls that waited, calls dropped, the longest queue.
    pub fn stats(&self) -> EngineStats {
        self.stats
    }

    /// Applies what exists before the first event (the spares of the
    /// Zygotes that exist from the start), once; `arrive` calls it too.
    pub fn start_up<E: Effects>(&mut self, fx: &mut E) -> Result<(), E::Error> {
        if std::mem::replace(&mut self.started_up, true) {
            return Ok(());
        }
        let side = self.planner.take_startup();
        fx.apply(&self.planner, &side, Micros::ZERO)
    }

    /// Invocation `seq` arrives at `inv.time`. Returns the invocations that
    /// started now: usually just it, none when it waits (or was dropped),
    /// more when its arrival let a blocked queue move (a call ahead of it
    /// was dropped for waiting too long).
    pub fn arrive<E: Effects>(
        &mut self,
        fx: &mut E,
        seq: u64,
        inv: Invocation,
    ) -> Result<Vec<Started>, E::Error> {
        let mut started = Vec::new();
        self.arrive_into(fx, seq, inv, &mut started)?;
        Ok(started)
    }

    /// [`Engine::arrive`], appending to `started` (a driver reuses it).
    pub(super) fn arrive_into<E: Effects>(
        &mut self,
        fx: &mut E,
        seq: u64,
        inv: Invocation,
        started: &mut Vec<Started>,
    ) -> Result<(), E::Error> {
        self.start_up(fx)?;
        let now = inv.time;
        let side = self.planner.tick(now);
        fx.apply(&self.planner, &side, now)?;
        self.queue.push(seq, inv);
        self.pump(fx, now, started)?;
        if !self.queue.is_empty() {
            fx.observe(now, self.planner.usage());
        }
        self.stats.queue_peak = self.stats.queue_peak.max(self.queue.len());
        Ok(())
    }

    /// The invocation on `instance` completed at `now`. Returns the queued
    /// invocations that started in the slot (and memory) it freed.
    pub fn complete<E: Effects>(
        &mut self,
        fx: &mut E,
        instance: InstanceId,
        now: Micros,
    ) -> Result<Vec<Started>, E::Error> {
        let mut started = Vec::new();
        self.complete_into(fx, instance, now, &mut started)?;
        Ok(started)
    }

    /// [`Engine::complete`], appending to `started`.
    pub(super) fn complete_into<E: Effects>(
        &mut self,
        fx: &mut E,
        instance: InstanceId,
        now: Micros,
        started: &mut Vec<Started>,
    ) -> Result<(), E::Error> {
        let side = self.planner.tick(now);
        fx.apply(&self.planner, &side, now)?;
        let side = self.planner.complete(instance, now);
        fx.apply(&self.planner, &side, now)?;
        self.running = self.running.saturating_sub(1);
        fx.observe(now, self.planner.usage());
        self.pump(fx, now, started)
    }

    /// When the next pre-warm timer is due (`None`: none pending).
    pub fn next_timer(&mut self) -> Option<Micros> {
        self.planner.next_prewarm()
    }

    /// The pre-warm timer at `now`: applies what is due (pre-warms, then
    /// expiries), then starts queued calls. Returns those that started.
    pub fn timer<E: Effects>(&mut self, fx: &mut E, now: Micros) -> Result<Vec<Started>, E::Error> {
        let mut started = Vec::new();
        self.timer_into(fx, now, &mut started)?;
        Ok(started)
    }

    /// [`Engine::timer`], appending to `started`.
    pub(super) fn timer_into<E: Effects>(
        &mut self,
        fx: &mut E,
        now: Micros,
        started: &mut Vec<Started>,
    ) -> Result<(), E::Error> {
        self.start_up(fx)?;
        let side = self.planner.tick(now);
        fx.apply(&self.planner, &side, now)?;
        fx.observe(now, self.planner.usage());
        self.pump(fx, now, started)
    }

    fn start<E: Effects>(
        &mut self,
        fx: &mut E,
        seq: u64,
        inv: Invocation,
        now: Micros,
    ) -> Result<Started, E::Error> {
        let plan = self.planner.invoke(inv, now);
        let (served, plan) = self.serve_until_served(fx, seq, inv, now, plan, 0)?;
        self.running += 1;
        self.stats.running_peak = self.stats.running_peak.max(self.running);
        if now > inv.time {
            self.stats.queued += 1;
        }
        fx.observe(now, self.planner.usage());
        fx.apply(&self.planner, &plan.after, now)?;
        Ok(started(seq, &plan, now, served))
    }

    /// A call that was [`Served::Running`] failed afterwards, at `now`,
    /// before its request went out (sock-exec's concurrent replay: the
    /// Zygote it was to fork from died while it waited for its install).
    /// The planner learns why ([`Planner::on_failure`]) and the fallback is
    /// served in the same slot, as a synchronous failure's would be;
    /// `failed.after` was applied when it started, so it is not applied
    /// again. Returns the fallback's start.
    pub fn fail_running<E: Effects>(
        &mut self,
        fx: &mut E,
        call: &Call,
        failed: &Plan,
        failure: Failure,
        now: Micros,
    ) -> Result<Started, E::Error> {
        let (seq, inv) = (call.seq, call.inv);
        let applied = Plan {
            after: Vec::new(),
            ..failed.clone()
        };
        let plan = self.fall_back(seq, inv, &applied, failure, now, call.attempt + 1)?;
        let (served, plan) = self.serve_until_served(fx, seq, inv, now, plan, call.attempt + 1)?;
        fx.observe(now, self.planner.usage());
        fx.apply(&self.planner, &plan.after, now)?;
        Ok(started(seq, &plan, now, served))
    }

    /// A spare of Zygote `z` was found dead at `now` (sock-exec): the
    /// planner drops it from its count and the replacement is applied.
    pub fn spare_lost<E: Effects>(
        &mut self,
        fx: &mut E,
        z: crate::units::ZygoteId,
        now: Micros,
    ) -> Result<(), E::Error> {
        let side = self.planner.on_spare_lost(z, now);
        fx.apply(&self.planner, &side, now)
    }

    /// The planner's fallback for `failure` of `plan` at its `attempt`.
    fn fall_back(
        &mut self,
        seq: u64,
        inv: Invocation,
        plan: &Plan,
        failure: Failure,
        now: Micros,
        attempt: u32,
    ) -> Result<Plan, EngineError> {
        if !failure.fits(&plan.action) {
            return Err(EngineError::NoFallback {
                seq,
                failure,
                path: plan.action.path().as_str(),
            });
        }
        if attempt > MAX_ATTEMPTS {
            return Err(EngineError::Exhausted {
                seq,
                attempts: MAX_ATTEMPTS,
            });
        }
        Ok(self.planner.on_failure(inv, plan, failure, now))
    }

    /// Applies `plan`'s `before` and serves it, falling back while serving
    /// fails; returns how the last plan was served, and that plan.
    fn serve_until_served<E: Effects>(
        &mut self,
        fx: &mut E,
        seq: u64,
        inv: Invocation,
        now: Micros,
        mut plan: Plan,
        mut attempt: u32,
    ) -> Result<(Served, Plan), E::Error> {
        loop {
            fx.apply(&self.planner, &plan.before, now)?;
            let call = Call {
                seq,
                inv,
                start: now,
                attempt,
            };
            match fx.serve(&self.planner, &call, &plan)? {
                Served::Failed(failure) => {
                    attempt += 1;
                    plan = self.fall_back(seq, inv, &plan, failure, now, attempt)?;
                }
                other => return Ok((other, plan)),
            }
        }
    }
}

fn started(seq: u64, plan: &Plan, now: Micros, served: Served) -> Started {
    Started {
        seq,
        instance: plan.instance,
        start: now,
        service: match served {
            Served::Done { service } => Some(service),
            _ => None,
        },
    }
}
