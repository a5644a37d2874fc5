//! # sock-core
//!
//! The model half of a SOCK-style serverless platform (Oakes et al., USENIX
//! ATC'18): everything that *decides*, nothing that *does*. Both the
//! simulator (`sim`) and the real executor (`sock-exec`) call the same
//! [`planner::Planner`], so they take identical decisions on a trace.
//!
//! Map of the crate:
//! - [`units`]: newtypes for time ([`Micros`]), memory ([`Bytes`]) and ids.
//! - [`pkgset`]: package sets as sparse bitsets (cheap subset tests, memory
//!   per 64-id block in use).
//! - [`trace`]: the trace format: packages, functions, streamed invocations.
//! - [`lines`]: line reading with a length cap (traces, records).
//! - [`phases`]: the one list of latency phases ([`phases::ByPhase`]).
//! - [`cost`]: the cost model and its calibration parameters.
//! - [`noise`]: sampled start-up noise on the cost model's phases (the
//!   measured / predicted distributions a calibration carries).
//! - [`handler_cache`]: tier 1, paused handler instances and keep-alive
//!   policies (LRU, TTL, GDSF).
//! - [`zygote`]: tier 2, the Zygote tree (best-cost lookup, growth,
//!   hits-per-byte leaf eviction, static trees).
//! - [`install_cache`]: tier 3, installed packages with LRU eviction.
//! - [`config`]: tier sizes, policies, and switching tiers off.
//! - [`planner`]: invocation + tier state -> [`planner::Plan`], and the
//!   fallback when a plan fails ([`planner::Planner::on_failure`]).
//! - [`worker`]: the machine the tiers share: total memory, cores, and
//!   what a call that does not fit does (queue or drop).
//! - [`engine`]: the one event loop sim and sock-exec run: arrivals,
//!   queue, completions, failures; time and effects injected.
//! - [`record`]: the per-invocation record sim and sock-exec both write.
//! - [`quantile`]: the one quantile definition (nearest rank).
//!
//! The crate is pure: no syscalls, clocks, threads or unseeded
//! randomness (noise is drawn from a generator seeded by the calibration).
//! Time enters as arguments, so a replay is deterministic; maps are
//! `BTreeMap`s and every tie is broken by a documented rule.

#![forbid(unsafe_code)]

#[macro_use]
mod object_only;

pub mod config;
pub mod cost;
pub mod engine;
pub mod handler_cache;
pub mod install_cache;
pub mod lines;
pub mod noise;
pub mod phases;
pub mod pkgset;
pub mod planner;
pub mod quantile;
pub mod record;
pub mod trace;
pub mod units;
pub mod worker;
pub mod zygote;

pub use pkgset::PackageSet;
pub use units::{Bytes, FunctionId, InstanceId, Micros, PackageId, ZygoteId};
