//! The one clock every measured phase is read from: CLOCK_MONOTONIC, in
//! nanoseconds. The runtime and the Zygotes read the same clock
//! (`time.monotonic_ns()` in Python), so timestamps taken in different
//! processes (and PID namespaces: there is no time namespace here) can be
//! subtracted, and each phase is measured between two step boundaries.

use nix::time::{clock_gettime, ClockId};

/// Now, in CLOCK_MONOTONIC nanoseconds.
pub fn monotonic_ns() -> u64 {
    // clock_gettime(CLOCK_MONOTONIC) cannot fail on Linux for a valid
    // clock id (clock_gettime(2): EINVAL only for unknown clocks).
    clock_gettime(ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn monotonic_never_goes_back() {
        let a = super::monotonic_ns();
        let b = super::monotonic_ns();
        assert!(a > 0 && b >= a);
    }
}
