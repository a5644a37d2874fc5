//! `sock-exec load`: replays a trace over HTTP against an
//! OpenLambda-compatible worker (`sock-exec worker`) in wall time, and
//! writes the measured records `sim compare` reads.
//!
//! Invocation `seq` of the trace is sent at `arrival / speedup` after the
//! start as `POST /run/<function>` with the body `{"duration_s": D}`, D the
//! invocation's own duration, else its function's `duration_ms` (what the
//! handlers `sock-exec registry --from-trace` writes sleep for). The
//! function is the registry's name for it ([`super::from_trace::registry_names`]).
//!
//! Bounded: at most `concurrency` requests in flight (one thread and one
//! kept-alive connection each; a call due while all are busy waits and is
//! counted `late`), each with a whole-request timeout, so the run lasts
//! the trace (over the speedup) plus at most one timeout. The client
//! never forks. A stop request (SIGINT/SIGTERM, checked every 20 ms) ends
//! dispatching; calls in flight are still awaited (bounded by the
//! timeout) and recorded.
//!
//! Records: one per invocation the worker served (a response carrying
//! `X-Sock-Record`, whatever its status), in trace order (`seq`), in
//! `sim --records`' schema: the worker's record with the trace's `seq`,
//! `arrival_us`, `function` and `function_name`, and the HTTP hop (the
//! client's latency minus the worker's `latency_us`, at least 0) added to
//! `transport` and to `latency_us`. Calls that got no record (503 dropped
//! by the worker, other statuses, connection errors, timeouts, unreadable
//! records) are counted in the summary and written nowhere: `sim` writes
//! no record for a call it drops either, and `sim compare` reports seqs
//! present on one side only as `only_in_predicted`.

pub mod client;
pub mod outcome;
mod replay;
pub mod response;
pub mod summary;

pub use client::{Client, ClientError, Target};
pub use outcome::{Call, Outcome};
pub use replay::replay;
pub use response::Response;
pub use summary::LoadSummary;

use std::time::Duration;

/// How to replay.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    pub target: Target,
    /// The URL as given (for the summary).
    pub url: String,
    /// Wall time = trace time / speedup.
    pub speedup: f64,
    /// Replay only the first N invocations.
    pub limit: Option<u64>,
    /// Most requests in flight (at least 1).
    pub concurrency: usize,
    /// Per-request timeout (connect, send, response).
    pub timeout: Duration,
    /// A progress line on stderr this often (`None`: never).
    pub progress_every: Option<Duration>,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("trace: {0}")]
    Trace(#[from] sock_core::trace::TraceError),
    #[error("trace: invocation {seq} names function {function}, but the trace has {count}")]
    Function {
        seq: u64,
        function: u32,
        count: usize,
    },
    #[error("writing records: {0}")]
    Records(std::io::Error),
    #[error("starting client thread: {0}")]
    Thread(std::io::Error),
}
