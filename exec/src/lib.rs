//! # sock-exec
//!
//! The executor half: real lean containers, Python Zygote forks and an
//! on-disk install cache, driven by the same sock-core planner `sim` uses.
//!
//! - [`sys`]: the OS boundary; every raw syscall wrapper (and all `unsafe`).
//! - [`cgroup`]: v1/v2 backends chosen from the mount table, and the pool.
//! - [`base`]: the read-only base image (debootstrap) and the runtime it holds.
//! - [`container`]: the lean container lifecycle (create, invoke, pause,
//!   resume, destroy, crash recovery).
//! - [`zygote`]: forking Zygote servers into new lean containers.
//! - [`install`]: the install cache (pip, wheels for the containers'
//!   Python; source builds in a lean container) and test-wheel generator.
//! - [`run`]: `sock-exec run`, a trace replayed on all three real tiers.
//! - [`calibrate`]: the cost model's parameters measured on this host.
//! - [`cli`], [`commands`]: the command line and one function per command
//!   (the `sock-exec` binary only parses and calls [`commands::execute`]).
//! - [`worker`]: foundations of `sock-exec worker` (registry, HTTP protocol).
//! - [`baseline`]: Docker, runc and chroot baselines for the benchmarks,
//!   and `sock-exec docker-worker` (the worker's API on Docker containers).
//! - [`bench`]: `sock-exec bench containers` (vs Docker and runc) and
//!   `sock-exec bench zygotes` (Zygote hit vs fresh vs Docker).

pub mod base;
pub mod baseline;
pub mod bench;
pub mod calibrate;
pub mod cgroup;
pub mod cli;
pub mod commands;
pub mod container;
pub mod install;
pub mod measure;
pub mod primitives;
pub mod run;
pub mod sys;
#[cfg(test)]
mod testutil;
pub mod worker;
pub mod zygote;
