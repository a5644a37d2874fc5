//! Benchmarks. They measure; tests assert behaviour.
//!
//! Concurrency comes from forked worker processes, never threads: the
//! executor forks containers and must stay single-threaded.

pub mod containers;
pub mod zygotes;
mod plot;
mod workers;
