//! # sock-exec
//!
//! The executor half: real lean containers (and, next, Python Zygote
//! forks) driven by the same sock-core planner `sim` uses.
//!
//! - [`sys`]: the OS boundary; every raw syscall wrapper (and all `unsafe`).
//! - [`cgroup`]: v1/v2 backends chosen from the mount table, and the pool.
//! - [`base`]: the read-only base image (debootstrap) and the runtime it holds.
//! - [`container`]: the lean container lifecycle (create, invoke, pause,
//!   resume, destroy, crash recovery).
//! - [`zygote`]: forking Zygote servers into new lean containers.
//! - [`bench`]: `sock-exec bench containers` against Docker and runc.

pub mod base;
pub mod baseline;
pub mod bench;
pub mod calibrate;
pub mod cgroup;
pub mod cli;
pub mod container;
pub mod install;
pub mod primitives;
pub mod run;
pub mod sys;
pub mod zygote;
