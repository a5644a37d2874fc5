//! The concurrent real replay (`sock-exec run --concurrent`): invocations
//! overlap in wall-clock time as the trace's arrivals do, bounded by the
//! engine's concurrency limit (`replay.max_concurrency`) with sim's FIFO
//! queue; arrivals are paced at trace time / `speedup`.
//!
//! Fork safety: the whole replay is one thread. That thread owns every
//! fork, clone and container set-up (so no process is ever forked from a
//! multi-threaded parent); while handlers run, their requests are in
//! flight on non-blocking sockets ([`crate::container::Pending`]) that one
//! `ppoll(2)` (a ns timeout) watches with the next arrival's due time, the next
//! pre-warm timer's, and the pip runs in progress (`pips.rs`: a call that
//! needs an install waits for it there while the others are served).
//! Setting a container up (thaw, fork, create) blocks the loop, as one
//! forker process would; that wait is measured and lands in the `queue`
//! phase of the invocations it delays.
//!
//! Event order: every loop turn gathers the arrivals now due and the
//! responses now read whole (each completing at the virtual time its
//! response was read), and delivers them to the engine in time order,
//! completions first on ties (as the virtual-time replay does). An arrival
//! is planned at its trace time even when the loop reaches it late (a
//! completion is never delivered before the last event's time).

use super::pips::LateFailure;
use super::real::Real;
use super::source::{Arrivals, Due};
use super::{RunError, Runner};
use crate::container::Pending;
use crate::sys::clock;
use sock_core::engine::{Call, Served};
use sock_core::planner::Failure;
use sock_core::record::InvocationRecord;
use sock_core::trace::Invocation;
use sock_core::{InstanceId, Micros};

/// Wall-clock time of a concurrent replay.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Wall {
    /// CLOCK_MONOTONIC ns at trace time 0.
    pub(crate) origin_ns: u64,
    pub(crate) speedup: f64,
}

impl Wall {
    /// Trace time (µs) at monotonic instant `ns`.
    pub(crate) fn virtual_us(&self, ns: u64) -> Micros {
        Micros((ns.saturating_sub(self.origin_ns) as f64 * self.speedup / 1000.0) as u64)
    }

    /// Monotonic ns at which trace time `t` is due.
    pub(crate) fn due_ns(&self, t: Micros) -> u64 {
        self.origin_ns
            .saturating_add((t.0 as f64 * 1000.0 / self.speedup).min(u64::MAX as f64 / 2.0) as u64)
    }
}

/// A request in flight, and what its record needs.
#[derive(Debug)]
pub(super) struct InFlight {
    pub(super) call: Call,
    pub(super) prepared: super::serve::Prepared,
    /// `None`: it failed before it went out; it completes at once.
    pub(super) pending: Option<Pending>,
    pub(super) failed: Option<crate::container::InvokeError>,
}

impl Real<'_, '_> {
    /// The concurrent `serve`: prepare the container and send the request;
    /// its completion comes from the poll loop. A call that needs packages
    /// installed waits for its pip runs in the background (`pips.rs`).
    pub(super) fn serve_async(
        &mut self,
        planner: &sock_core::planner::Planner<'_>,
        call: &Call,
        plan: &sock_core::planner::Plan,
    ) -> Result<Served, RunError> {
        let mut missing = self.missing(planner, &self.to_install(call, plan));
        // Its closure is mounted: a package another call's pip is still
        // installing is waited for too (the planner counts it installed).
        for n in self.pips_for(self.catalog.closure(call.inv.function)) {
            if !missing.contains(&n) {
                missing.push(n);
            }
        }
        if !missing.is_empty() && self.wait_for_installs(call, plan, missing)? {
            return Ok(Served::Running);
        }
        match self.prepare_installed(call, plan, clock::monotonic_ns())? {
            Ok(p) => self.send(call, plan, p),
            Err(f) => Ok(Served::Failed(f)),
        }
    }

    /// Sends a prepared call's request; it is in flight from then on.
    pub(super) fn send(
        &mut self,
        call: &Call,
        plan: &sock_core::planner::Plan,
        p: super::serve::Prepared,
    ) -> Result<Served, RunError> {
        let sent = match self.instances.get(&p.instance) {
            Some(c) => Pending::send(c, &self.requests.body(call.seq, plan), self.opts.timeout),
            None => return Err(super::cerr("serve", "the prepared container vanished")),
        };
        let (pending, failed) = match sent {
            Ok(pending) => (Some(pending), None),
            Err(crate::container::InvokeError::Connect { .. }) if p.is_hit() => {
                return Ok(Served::Failed(Failure::HandlerLost))
            }
            Err(e) => (None, Some(e)),
        };
        self.inflight.insert(
            p.instance,
            InFlight {
                call: *call,
                prepared: p,
                pending,
                failed,
            },
        );
        Ok(Served::Running)
    }

    /// Waits up to `until_ns` for responses, pip exits and the source's
    /// sockets (`extra`); returns the invocations that ended (response
    /// whole, failed or timed out), each with the instant its response was
    /// read, and their records; the calls that waited for installs and
    /// then could not start; and which of `extra` polled readable.
    fn collect(
        &mut self,
        planner: &sock_core::planner::Planner<'_>,
        until_ns: u64,
        extra: &[std::os::fd::BorrowedFd<'_>],
    ) -> Result<Collected, RunError> {
        use nix::poll::{ppoll, PollFd, PollFlags};
        use nix::sys::time::TimeSpec;
        let now = clock::monotonic_ns();
        let mut wait_ns = until_ns.saturating_sub(now).min(50_000_000);
        let mut ready: Vec<InstanceId> = Vec::new();
        let soon = |at: std::time::Instant| {
            at.saturating_duration_since(std::time::Instant::now())
                .as_nanos() as u64
        };
        for (id, f) in &self.inflight {
            match &f.pending {
                None => ready.push(*id),
                Some(p) => wait_ns = wait_ns.min(soon(p.deadline())),
            }
        }
        if let Some(at) = self.pips.next_deadline() {
            wait_ns = wait_ns.min(soon(at));
        }
        let ids: Vec<InstanceId> = self.inflight.keys().copied().collect();
        let mut fds: Vec<PollFd<'_>> = ids
            .iter()
            .filter_map(|id| self.inflight[id].pending.as_ref())
            .map(|p| PollFd::new(p.fd(), PollFlags::POLLIN))
            .chain(self.pips.fds().map(|fd| PollFd::new(fd, PollFlags::POLLIN)))
            .collect();
        let first_extra = fds.len();
        fds.extend(extra.iter().map(|fd| PollFd::new(*fd, PollFlags::POLLIN)));
        if ready.is_empty() && !fds.is_empty() {
            // ppoll, not poll: poll's timeout is whole ms, rounded up, so
            // an arrival due between two ms was dispatched up to 1 ms late
            // (0.6 ms of every call's `queue` at the median, BENCHMARKS.md).
            let wait = std::time::Duration::from_nanos(wait_ns.min(1 << 50));
            match ppoll(&mut fds, Some(TimeSpec::from_duration(wait)), None) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(super::cerr("poll the requests in flight", e)),
            }
        } else if ready.is_empty() && wait_ns > 0 {
            std::thread::sleep(std::time::Duration::from_nanos(wait_ns));
        }
        let readable: Vec<bool> = fds[first_extra..]
            .iter()
            .map(|p| p.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        ready.extend(ids);
        let mut done = Vec::new();
        for id in ready {
            let Some(f) = self.inflight.get_mut(&id) else {
                continue;
            };
            let result = match (&mut f.pending, f.failed.take()) {
                (_, Some(e)) => Err(e),
                (Some(p), None) => match p.read() {
                    Some(r) => r,
                    None => continue,
                },
                (None, None) => continue,
            };
            let done_ns = clock::monotonic_ns();
            let Some(f) = self.inflight.remove(&id) else {
                continue;
            };
            if let Some(c) = self.instances.get_mut(&id) {
                self.exec.settle(c, &result);
            }
            let timed_out = matches!(result, Err(crate::container::InvokeError::Timeout(_)));
            let r = super::failed_request(result);
            self.requests.answered(f.call.seq, &r, timed_out);
            let rec = self.record(&f.call, f.prepared, &r, done_ns);
            done.push((done_ns, id, rec));
        }
        done.sort_by_key(|d| d.0);
        let late = self.poll_pips(planner)?;
        Ok(Collected {
            done,
            late,
            readable,
        })
    }
}

/// What one wait of the loop found.
struct Collected {
    done: Vec<(u64, InstanceId, InvocationRecord)>,
    late: Vec<LateFailure>,
    readable: Vec<bool>,
}

/// One event for the engine.
enum Event {
    Complete(InstanceId),
    /// A call that waited for its installs could not start.
    Fail(Box<LateFailure>),
    /// A pre-warm timer (the Hybrid Histogram policy) due now.
    Timer,
    Arrive(u64, Invocation),
}

/// Serves the calls of `source` concurrently in wall-clock time until it
/// has ended and nothing is in flight or queued; `source` gets the records
/// as their calls complete.
pub(crate) fn run(runner: &mut Runner<'_, '_>, source: &mut dyn Arrivals) -> Result<(), RunError> {
    let speedup = runner.real.opts.speedup.unwrap_or(1.0);
    let wall = Wall {
        origin_ns: clock::monotonic_ns(),
        speedup,
    };
    runner.real.wall = Some(wall);
    let mut last = Micros::ZERO;
    loop {
        source.check_stop()?;
        let engine = runner.replay.engine_mut();
        let idle = runner.real.inflight.is_empty() && runner.real.pips.is_idle();
        let due = source.next_due(&wall);
        let next_arrival = match due {
            Due::At(ns) => ns,
            Due::Ended if idle && engine.queued() == 0 => break,
            Due::Ended | Due::Waiting => u64::MAX,
        };
        // A pre-warm is due at its own time, not at the next event's
        // (after the last arrival there is none, as in the virtual replay).
        let timer = engine.next_timer().filter(|_| due != Due::Ended);
        let next_due = next_arrival.min(timer.map_or(u64::MAX, |t| wall.due_ns(t)));
        let planner = runner.replay.engine().planner();
        let fds = source.fds();
        let Collected {
            done,
            late,
            readable,
        } = runner.real.collect(planner, next_due, &fds)?;
        drop(fds);
        let now_ns = clock::monotonic_ns();
        let mut events: Vec<(Micros, u8, Event)> = Vec::new();
        for (ns, id, rec) in done {
            events.push((wall.virtual_us(ns), 0, Event::Complete(id)));
            runner.real.records.push(rec);
        }
        // Answered before the completions' side decisions (pause, destroy,
        // refill) run: those are off the calls' critical path.
        let recs = runner.take_records();
        if !recs.is_empty() {
            source.delivered(recs, &mut runner.real.requests)?;
        }
        for f in late {
            events.push((wall.virtual_us(f.at_ns), 0, Event::Fail(Box::new(f))));
        }
        if let Some(t) = timer.filter(|t| wall.due_ns(*t) <= now_ns) {
            events.push((t, 1, Event::Timer));
        }
        let engine = runner.replay.engine();
        source.observe(engine.planner(), engine.stats());
        for (seq, inv) in source.take_due(&wall, now_ns, &readable, &mut runner.real.requests)? {
            events.push((inv.time, 2, Event::Arrive(seq, inv)));
        }
        events.sort_by_key(|e| (e.0, e.1));
        for (t, _, ev) in events {
            let engine = runner.replay.engine_mut();
            let t = t.max(last);
            last = t;
            match ev {
                Event::Complete(id) => {
                    engine.complete(&mut runner.real, id, t)?;
                }
                Event::Fail(f) => {
                    runner.real.summary.fallbacks += 1;
                    runner.real.attempt_start_ns = f.attempt_start_ns;
                    engine.fail_running(&mut runner.real, &f.call, &f.plan, f.failure, t)?;
                }
                Event::Timer => {
                    runner.real.summary.prewarm_timers += 1;
                    engine.timer(&mut runner.real, t)?;
                }
                Event::Arrive(seq, inv) => {
                    engine.arrive(&mut runner.real, seq, inv)?;
                }
            }
        }
        runner.report_lost_spares(last)?;
        runner.note_queue();
        runner.real.private.sweep()?;
        // Pause grace ends between events too (an idle worker).
        let planner = runner.replay.engine().planner();
        runner
            .real
            .pause_due(planner, wall.virtual_us(clock::monotonic_ns()))?;
        runner.real.idle();
        let recs = runner.take_records();
        source.delivered(recs, &mut runner.real.requests)?;
    }
    Ok(())
}
