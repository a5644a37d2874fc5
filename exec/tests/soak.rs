//! The long leak test (issue 12): 10,000 lean container create/destroy
//! cycles in one executor with nothing leaked (mounts, fds, processes,
//! cgroups), each destroy asynchronous (issue 9: teardowns queued,
//! completed at idle points, by a create that finds the pool empty, or
//! when the queue is full). A test target of its own, so `cargo test --release
//! --workspace` (CI) runs it while `--test containers` stays quick;
//! `SOCK_SOAK_CYCLES` overrides the count. Root and a base image needed,
//! as for every privileged suite (see `common/mod.rs`).

mod common;

use common::*;
use std::path::Path;

fn main() {
    run_cases(
        "soak",
        &[(
            "ten_thousand_create_destroy_cycles_leak_nothing",
            ten_thousand_create_destroy_cycles_leak_nothing,
        )],
    );
}

fn ten_thousand_create_destroy_cycles_leak_nothing(dir: &Path) -> TestResult {
    let cycles = cycles_from_env("SOCK_SOAK_CYCLES", 10_000);
    cycles_leak_nothing(dir, "soak", cycles, true)
}
