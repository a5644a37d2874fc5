//! SIGINT / SIGTERM as a flag the run loops check, so that an interrupted
//! run still tears down (thaws and kills its containers, unmounts, removes
//! its cgroups) instead of dying with them left behind. The handler only
//! stores the signal number in an atomic (async-signal-safe); no thread,
//! no signalfd, nothing that could fork from a multi-threaded process.
//! Children inherit the handler until they exec (which resets it), and
//! only set their own copy of the flag.

use super::{SysError, SysResult};
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use std::sync::atomic::{AtomicI32, Ordering};

/// The first stop signal received (0: none).
static STOP: AtomicI32 = AtomicI32::new(0);

extern "C" fn note_stop(signal: nix::libc::c_int) {
    // Keep the first: a second Ctrl-C must not hide which one came first.
    let _ = STOP.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
}

/// Turns SIGINT and SIGTERM into a stop request ([`stop_requested`]).
/// SA_RESTART: interrupted system calls resume; the loops notice the flag
/// at their next check.
pub fn catch_stop_signals() -> SysResult<()> {
    let action = SigAction::new(
        SigHandler::Handler(note_stop),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only performs an atomic compare-exchange on
        // a static, which is async-signal-safe; it touches no lock, no
        // allocation and no errno.
        unsafe { sigaction(signal, &action) }.map_err(|e| SysError::new("sigaction", e))?;
    }
    Ok(())
}

/// The stop signal received since [`catch_stop_signals`], if any.
pub fn stop_requested() -> Option<Signal> {
    match STOP.load(Ordering::SeqCst) {
        0 => None,
        n => Signal::try_from(n).ok(),
    }
}

/// Forgets a received stop signal (tests).
pub fn clear_stop_request() {
    STOP.store(0, Ordering::SeqCst);
}
