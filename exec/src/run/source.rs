//! Where the concurrent loop's calls come from, and where their answers
//! go: [`Arrivals`]. The loop (`concurrent.rs`) is the same for a trace
//! replayed in wall time ([`TraceArrivals`], `sock-exec run --concurrent`)
//! and for clients calling `sock-exec worker` over HTTP (its sockets join
//! the loop's one `poll(2)`, so the one thread that owns every fork also
//! reads every request).
//!
//! [`Requests`] is what a call from a client carries through the run: its
//! event (sent to the handler instead of the planner's run time), and its
//! answer (the handler's response, or the worker model's drop).

pub(crate) use super::concurrent::Wall;
use super::{stopped, RunError};
use crate::container::Response;
use sock_core::record::InvocationRecord;
use sock_core::trace::Invocation;
use std::collections::HashMap;
use std::os::fd::BorrowedFd;

/// When the next call is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Due {
    /// At this CLOCK_MONOTONIC instant (ns; 0: now).
    At(u64),
    /// None is known; one may come on the source's sockets.
    Waiting,
    /// No more calls: the loop ends once nothing is in flight or queued.
    Ended,
}

/// A source of calls for the concurrent loop.
pub(crate) trait Arrivals {
    /// An error stops the loop at once (the caller tears down); the
    /// default stops on SIGINT/SIGTERM. A source that drains instead
    /// returns `Ok` and [`Due::Ended`].
    fn check_stop(&mut self) -> Result<(), RunError> {
        stopped()
    }

    fn next_due(&mut self, wall: &Wall) -> Due;

    /// Sockets to wake the loop when readable.
    fn fds(&self) -> Vec<BorrowedFd<'_>> {
        Vec::new()
    }

    /// The calls due by `now_ns`, with their sequence numbers; `readable`
    /// says which of [`Arrivals::fds`] polled readable. A client's event
    /// goes into `requests.events` under the call's sequence number.
    fn take_due(
        &mut self,
        wall: &Wall,
        now_ns: u64,
        readable: &[bool],
        requests: &mut Requests,
    ) -> Result<Vec<(u64, Invocation)>, RunError>;

    /// Sees the planner and the engine's counts once a loop turn, before
    /// [`Arrivals::take_due`] (the worker's `/stats`).
    fn observe(
        &mut self,
        _planner: &sock_core::planner::Planner<'_>,
        _engine: sock_core::engine::EngineStats,
    ) {
    }

    /// The records of the calls that completed in a loop turn (and, in
    /// `requests`, their responses and the calls dropped).
    fn delivered(
        &mut self,
        records: Vec<InvocationRecord>,
        requests: &mut Requests,
    ) -> Result<(), RunError>;
}

/// The calls of clients in flight through a run (`sock-exec worker`).
#[derive(Debug, Default)]
pub(crate) struct Requests {
    /// Set by the worker: a call's request carries its client's event
    /// (`events`), its response is kept for the client (`responses`), and
    /// a drop is reported (`dropped`). Unset (a trace replay): the request
    /// names the planner's handler time (`handlers::request_body`).
    pub(crate) from_clients: bool,
    /// The event of each call not yet answered, by sequence number.
    pub(crate) events: HashMap<u64, String>,
    /// Responses read since the source last took them, by sequence number.
    pub(crate) responses: HashMap<u64, Response>,
    /// Calls the worker model dropped (sequence number, reason).
    pub(crate) dropped: Vec<(u64, &'static str)>,
}

impl Requests {
    /// The request body of call `seq`.
    pub(super) fn body(&self, seq: u64, plan: &sock_core::planner::Plan) -> String {
        match self.events.get(&seq) {
            Some(e) if self.from_clients => e.clone(),
            _ => super::handlers::request_body(plan),
        }
    }

    /// Keeps call `seq`'s response for its client; one that never came
    /// (status 599) becomes 504 when it timed out, else 502.
    pub(super) fn answered(&mut self, seq: u64, r: &Response, timed_out: bool) {
        if self.from_clients {
            self.events.remove(&seq);
            let mut r = r.clone();
            if r.status == 599 {
                r.status = if timed_out { 504 } else { 502 };
            }
            self.responses.insert(seq, r);
        }
    }
}

/// A trace's invocations, due at their trace time over the speed-up.
pub(super) struct TraceArrivals<'w, I: Iterator> {
    pub(super) arrivals: std::iter::Peekable<I>,
    pub(super) write: &'w mut dyn FnMut(Vec<InvocationRecord>) -> Result<(), RunError>,
}

impl<I> Arrivals for TraceArrivals<'_, I>
where
    I: Iterator<Item = (usize, Result<Invocation, sock_core::trace::TraceError>)>,
{
    fn next_due(&mut self, wall: &Wall) -> Due {
        match self.arrivals.peek() {
            Some((_, Ok(inv))) => Due::At(wall.due_ns(inv.time)),
            Some((_, Err(_))) => Due::At(0),
            None => Due::Ended,
        }
    }

    fn take_due(
        &mut self,
        wall: &Wall,
        now_ns: u64,
        _readable: &[bool],
        _requests: &mut Requests,
    ) -> Result<Vec<(u64, Invocation)>, RunError> {
        let mut due = Vec::new();
        while let Some((_, Ok(inv))) = self.arrivals.peek() {
            if wall.due_ns(inv.time) > now_ns {
                break;
            }
            let Some((seq, Ok(inv))) = self.arrivals.next() else {
                break;
            };
            due.push((seq as u64, inv));
        }
        if let Some((_, Err(_))) = self.arrivals.peek() {
            if let Some((_, Err(e))) = self.arrivals.next() {
                return Err(super::cerr("trace", e));
            }
        }
        Ok(due)
    }

    fn delivered(
        &mut self,
        records: Vec<InvocationRecord>,
        _requests: &mut Requests,
    ) -> Result<(), RunError> {
        (self.write)(records)
    }
}
