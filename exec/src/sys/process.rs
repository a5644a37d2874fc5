//! Process wrappers: fork, namespaces, reaping, signals, and the
//! async-signal-safe exit a forked child must use.

use super::{SysError, SysResult};
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

pub use nix::unistd::ForkResult;

/// fork(2).
///
/// The caller must be single-threaded (sock-exec never starts threads
/// before forking containers), so the child holds no lock another thread
/// owned and may allocate.
pub fn fork() -> SysResult<ForkResult> {
    // SAFETY: sock-exec is single-threaded whenever it forks (see the
    // function doc and ARCHITECTURE.md); the child only runs the container
    // entry steps and then execs or calls `exit_now`.
    unsafe { nix::unistd::fork() }.map_err(|e| SysError::new("fork", e))
}

/// Leaves the process at once (no atexit handlers, no stdio flushing: the
/// forked child shares the parent's buffers).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit is async-signal-safe and takes no pointers.
    unsafe { nix::libc::_exit(code) }
}

/// Whether `pid` exists (signal 0; a zombie counts as existing).
pub fn is_alive(pid: Pid) -> bool {
    nix::sys::signal::kill(pid, None).is_ok()
}

/// Orphans of our descendants (e.g. a container's init after its
/// intermediate parent exits) are reparented to us, so we can reap them.
pub fn set_child_subreaper() -> SysResult<()> {
    nix::sys::prctl::set_child_subreaper(true)
        .map_err(|e| SysError::new("prctl(PR_SET_CHILD_SUBREAPER)", e))
}

/// Reaps those of `pids` that are exited children of ours, without
/// blocking; others (still running, or not our children) are left alone.
/// Never `waitpid(-1)`: that would reap children other code owns (a pip
/// run's `std::process::Child`, a benchmark's Docker client).
pub fn reap_pids(pids: &[Pid]) {
    for &pid in pids {
        let _not_ours_or_running = waitpid(pid, Some(WaitPidFlag::WNOHANG));
    }
}

/// Whether `pid` is a child of this process (so its number cannot be
/// reused before we reap it). Does not reap it.
pub fn is_our_child(pid: Pid) -> bool {
    use nix::sys::wait::{waitid, Id};
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    !matches!(waitid(Id::Pid(pid), flags), Err(nix::errno::Errno::ECHILD))
}

/// Waits for `pid` without blocking; `None` while it still runs.
pub fn try_wait(pid: Pid) -> SysResult<Option<WaitStatus>> {
    match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::StillAlive) => Ok(None),
        Ok(s) => Ok(Some(s)),
        Err(nix::errno::Errno::ECHILD) => Ok(Some(WaitStatus::Exited(pid, 0))),
        Err(e) => Err(SysError::new("waitpid", e)),
    }
}

/// Waits (bounded by `timeout`) until a killed `pid` is gone: reaped
/// here when it is our child, or reaped by its own parent. A pid that is
/// not our child yet may be the zombie of a parent that is itself dying
/// (a spare whose Zygote was killed in the same sweep); once that parent
/// exits it is reparented to us (a child subreaper) and reaped on the next
/// round. Returns whether it is gone.
pub fn reap_when_dead(pid: Pid, timeout: std::time::Duration) -> bool {
    let start = std::time::Instant::now();
    loop {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => {}
            Ok(_) => return true,
            Err(nix::errno::Errno::ECHILD) if !is_alive(pid) => return true,
            Err(_) => {}
        }
        if start.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
}

/// Blocks until `pid` exits.
pub fn wait(pid: Pid) -> SysResult<WaitStatus> {
    loop {
        match waitpid(pid, None) {
            Err(nix::errno::Errno::EINTR) => continue,
            Ok(s) => return Ok(s),
            Err(e) => return Err(SysError::new("waitpid", e)),
        }
    }
}

/// Blocks until `pid` is reaped; a child someone else already reaped
/// (ECHILD) counts as done.
pub fn wait_reaped(pid: Pid) -> SysResult<()> {
    loop {
        match waitpid(pid, None) {
            Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) | Err(nix::errno::Errno::ECHILD) => return Ok(()),
            Err(e) => return Err(SysError::new("waitpid", e)),
        }
    }
}

pub fn kill(pid: Pid, sig: Signal) -> SysResult<()> {
    match nix::sys::signal::kill(pid, sig) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
        Err(e) => Err(SysError::new("kill", e)),
    }
}

/// True when running as root (effective uid 0).
pub fn is_root() -> bool {
    nix::unistd::Uid::effective().is_root()
}

/// Reads the whole of `fd` (a pipe) until EOF.
pub fn read_to_end(fd: std::os::fd::OwnedFd) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    std::fs::File::from(fd).read_to_end(&mut out)?;
    Ok(out)
}

/// SIGKILLs every process of the process group `pgid` (a helper started
/// with its own group, e.g. pip); a group already gone is fine.
pub fn kill_group(pgid: u32) {
    let Ok(raw) = i32::try_from(pgid) else { return };
    // ESRCH (already gone) is the only expected failure.
    let _gone = nix::sys::signal::killpg(Pid::from_raw(raw), Signal::SIGKILL);
}

/// pidfd_open(2): a file descriptor (close-on-exec) that polls readable
/// once `pid` exits, so one `poll(2)` can wait for a child process (a pip
/// run) together with sockets. Linux >= 5.3.
pub fn pidfd_open(pid: u32) -> SysResult<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    let pid =
        i32::try_from(pid).map_err(|_| SysError::new("pidfd_open", nix::errno::Errno::EINVAL))?;
    // SAFETY: pidfd_open takes a pid and flags (0) by value and returns a
    // new fd or -1; no pointers are passed.
    let fd = unsafe { nix::libc::syscall(nix::libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(SysError::new("pidfd_open", nix::errno::Errno::last()));
    }
    // SAFETY: the kernel just returned this fd, owned by nobody else.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reaping_a_cgroups_pids_leaves_other_code_its_children() {
        // A child that std::process owns, exited and not yet waited for.
        let mut child = std::process::Command::new("true")
            .spawn()
            .expect("spawn true");
        let pid = Pid::from_raw(child.id() as i32);
        while nix::sys::wait::waitid(
            nix::sys::wait::Id::Pid(pid),
            WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT,
        )
        .is_err()
        {}
        // Reaping some other process's pids (what the cgroup wait does)
        // must not take it: `waitpid(-1)` did, and then `wait` failed.
        reap_pids(&[Pid::from_raw(1)]);
        let status = child.wait().expect("the child is still ours to wait for");
        assert!(status.success());
    }

    #[test]
    fn only_our_children_count_as_ours() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .expect("spawn");
        let pid = Pid::from_raw(child.id() as i32);
        assert!(is_our_child(pid));
        // Our parent is not our child: destroy never signals such a pid.
        assert!(!is_our_child(nix::unistd::getppid()));
        child.kill().expect("kill");
        child.wait().expect("wait");
        assert!(!is_our_child(pid), "reaped: no longer ours");
    }
}
