//! Benchmarks. They measure; tests assert behaviour.
//!
//! Concurrency comes from forked worker processes, never threads: the
//! executor forks containers and must stay single-threaded.

pub mod containers;
mod plot;
mod workers;
pub mod zygotes;
