//! Wrappers for the primitives study (`crate::primitives`): the raw calls
//! it times one by one, with exactly the flags under test (no MS_REC or
//! read-only remount folded in unless the variant asks for it), plus a
//! monotonic clock whose readings can cross a pipe between processes.
//!
//! Forking and exiting use [`super::process`].

use super::{SysError, SysResult};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::path::Path;

pub use nix::sched::CloneFlags;

const NONE: Option<&str> = None;

/// CLOCK_MONOTONIC in nanoseconds: one clock for every process on the
/// host, so start/end stamps taken in different workers can be compared.
pub fn monotonic_ns() -> u64 {
    match nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC) {
        // tv_sec and tv_nsec are non-negative for CLOCK_MONOTONIC.
        Ok(t) => (t.tv_sec() as u64) * 1_000_000_000 + t.tv_nsec() as u64,
        // clock_gettime(CLOCK_MONOTONIC) cannot fail on Linux (EINVAL only
        // for unknown clocks, EFAULT only for bad pointers).
        Err(_) => 0,
    }
}

/// unshare(2) with the given namespace flags.
pub fn unshare(flags: CloneFlags) -> SysResult<()> {
    nix::sched::unshare(flags).map_err(|e| SysError::new("unshare", e))
}

/// Number of threads of the calling process (`Threads:` in
/// /proc/self/status). fork(2) is only safe when this is 1.
pub fn thread_count() -> std::io::Result<usize> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| std::io::Error::other("no Threads: line in /proc/self/status"))
}

/// A tmpfs on `dst` (`options` e.g. `size=4k,mode=0755`).
pub fn mount_tmpfs(dst: &Path, options: &str) -> SysResult<()> {
    mount(
        Some("tmpfs"),
        dst,
        Some("tmpfs"),
        MsFlags::empty(),
        Some(options),
    )
    .map_err(|e| SysError::at("mount tmpfs", dst, e))
}

/// A plain (non-recursive) bind mount of `src` on `dst`.
pub fn bind(src: &Path, dst: &Path) -> SysResult<()> {
    mount(Some(src), dst, NONE, MsFlags::MS_BIND, NONE)
        .map_err(|e| SysError::at("bind mount", dst, e))
}

/// A recursive bind mount (MS_BIND|MS_REC) of `src` on `dst`.
pub fn rbind(src: &Path, dst: &Path) -> SysResult<()> {
    mount(
        Some(src),
        dst,
        NONE,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        NONE,
    )
    .map_err(|e| SysError::at("rbind mount", dst, e))
}

/// Turns the bind mount at `dst` read-only (a second mount(2) call: the
/// kernel ignores MS_RDONLY on the first MS_BIND, see mount(2)).
pub fn remount_bind_readonly(dst: &Path) -> SysResult<()> {
    let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
    mount(NONE, dst, NONE, flags, NONE).map_err(|e| SysError::at("remount read-only", dst, e))
}

/// An overlayfs on `dst` with one lower layer and an upper/work pair
/// (which must live on the same file system).
pub fn mount_overlay(lower: &Path, upper: &Path, work: &Path, dst: &Path) -> SysResult<()> {
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.display(),
        upper.display(),
        work.display()
    );
    mount(
        Some("overlay"),
        dst,
        Some("overlay"),
        MsFlags::empty(),
        Some(data.as_str()),
    )
    .map_err(|e| SysError::at("mount overlay", dst, e))
}

/// Mount propagation of one mount (mount_namespaces(7)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Propagation {
    Private,
    Shared,
}

/// Sets the propagation of the mount at `dst` (not recursive).
pub fn set_propagation(dst: &Path, p: Propagation) -> SysResult<()> {
    let flags = match p {
        Propagation::Private => MsFlags::MS_PRIVATE,
        Propagation::Shared => MsFlags::MS_SHARED,
    };
    mount(NONE, dst, NONE, flags, NONE).map_err(|e| SysError::at("set mount propagation", dst, e))
}

/// Makes every mount of the caller's mount namespace private (used right
/// after unshare(CLONE_NEWNS), so nothing propagates back to the host).
pub fn make_rprivate_root() -> SysResult<()> {
    mount(NONE, "/", NONE, MsFlags::MS_REC | MsFlags::MS_PRIVATE, NONE)
        .map_err(|e| SysError::at("make rprivate", "/", e))
}

/// umount2(dst, 0): synchronous unmount.
pub fn umount(dst: &Path) -> SysResult<()> {
    umount2(dst, MntFlags::empty()).map_err(|e| SysError::at("umount", dst, e))
}

/// umount2(dst, MNT_DETACH): detaches `dst` and every mount below it.
pub fn umount_detach(dst: &Path) -> SysResult<()> {
    umount2(dst, MntFlags::MNT_DETACH).map_err(|e| SysError::at("umount (detach)", dst, e))
}

pub fn chroot(dir: &Path) -> SysResult<()> {
    nix::unistd::chroot(dir).map_err(|e| SysError::at("chroot", dir, e))
}

pub fn chdir(dir: &Path) -> SysResult<()> {
    nix::unistd::chdir(dir).map_err(|e| SysError::at("chdir", dir, e))
}

/// `pivot_root(".", ".")` from inside the new root, then a lazy unmount
/// of the old root stacked on top (the idiom documented in
/// pivot_root(2), "NOTES"): no put_old directory is needed.
pub fn pivot_root_here() -> SysResult<()> {
    nix::unistd::pivot_root(".", ".").map_err(|e| SysError::at("pivot_root", ".", e))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| SysError::at("umount old root", ".", e))?;
    nix::unistd::chdir("/").map_err(|e| SysError::at("chdir", "/", e))
}

/// Waits until one of `fds` is readable or hung up, at most `timeout`;
/// returns one flag per fd (all false on timeout). EINTR counts as a
/// timeout-free wake-up with no fd ready.
pub fn wait_readable(
    fds: &[std::os::fd::BorrowedFd<'_>],
    timeout: std::time::Duration,
) -> SysResult<Vec<bool>> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut pfds: Vec<PollFd<'_>> = fds
        .iter()
        .map(|fd| PollFd::new(*fd, PollFlags::POLLIN))
        .collect();
    let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
    match poll(&mut pfds, PollTimeout::from(ms)) {
        Ok(_) | Err(nix::errno::Errno::EINTR) => {}
        Err(e) => return Err(SysError::new("poll", e)),
    }
    Ok(pfds
        .iter()
        .map(|p| p.revents().is_some_and(|r| !r.is_empty()))
        .collect())
}
