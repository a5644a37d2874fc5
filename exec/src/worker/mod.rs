//! Foundations of `sock-exec worker` (issue 13), the OpenLambda-compatible
//! HTTP worker on the three tiers:
//!
//! - [`registry`]: the function registry folder in OpenLambda's layout
//!   (`<registry>/<function>/f.py`, `requirements.txt` of exact pins;
//!   errors name file and line) and the fingerprint polled to pick up
//!   functions added or changed on disk without a restart;
//! - [`http`]: the HTTP/1.1 protocol of OpenLambda's API (`POST
//!   /run/<function>`, `GET /status`, `GET /stats`), parsed incrementally
//!   from non-blocking sockets so one thread can serve every connection
//!   and own every fork.
//!
//! Not built yet (the notes list it): the server loop that feeds
//! requests to the engine as arrivals in wall time (the concurrent
//! replay's loop, `run/concurrent.rs`, with sockets instead of a trace),
//! a catalog built from the registry (closures completed from package
//! metadata, import costs measured), the command, and the load test.

pub mod catalog;
pub mod conn;
pub mod from_trace;
pub mod http;
pub mod load;
pub mod registry;
pub mod server;
pub mod stats;
