//! # sock-exec
//!
//! The executor half: real lean containers and Python Zygote forks driven
//! by the same sock-core planner `sim` uses. This crate is at its start:
//! today it only probes the host ([`cgroup_detect`]); the container
//! lifecycle, Zygote server, calibration and trace runner follow (see the
//! project's issues 4 and 5).

#![forbid(unsafe_code)]

pub mod cgroup_detect;
