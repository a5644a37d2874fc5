//! File-descriptor plumbing: fd placement for a container's init (raw
//! and allocation-free: it runs in a child sharing the executor's memory,
//! `crate::container::spawn`), pipes, fd passing, opening and locking.

use super::{SysError, SysResult};
use nix::errno::Errno;
use nix::libc;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;

/// Most pairs [`place_fds`] places (it keeps its copies on the stack).
pub const MAX_PLACED: usize = 8;

/// Places each `(source, target)` pair: afterwards fd `target` refers to
/// what `source` referred to, without O_CLOEXEC, so it survives exec.
///
/// Every source is first duplicated above the highest target (close-on-
/// exec), and only those copies are `dup2`ed into place: placing the pairs
/// in order would overwrite a source that sits on a lower target (the
/// listening socket on fd 0, say, when the executor runs with stdin
/// closed) before it was placed itself. Raw system calls only, no
/// allocation: safe in a `CLONE_VM` child. At most [`MAX_PLACED`] pairs
/// (more: `EINVAL`).
pub fn place_fds(pairs: &[(RawFd, RawFd)]) -> Result<(), Errno> {
    if pairs.len() > MAX_PLACED {
        return Err(Errno::EINVAL);
    }
    let above = pairs.iter().map(|(_, t)| *t).max().unwrap_or(0) + 1;
    let mut copies = [-1; MAX_PLACED];
    for (copy, (src, _)) in copies.iter_mut().zip(pairs) {
        // SAFETY: fcntl on an fd number; no pointers.
        *copy = unsafe { libc::fcntl(*src, libc::F_DUPFD_CLOEXEC, above) };
        if *copy < 0 {
            return Err(Errno::last());
        }
    }
    for (copy, (_, target)) in copies.iter().zip(pairs) {
        // SAFETY: dup2 on fd numbers; it clears close-on-exec on `target`.
        if unsafe { libc::dup2(*copy, *target) } < 0 {
            return Err(Errno::last());
        }
    }
    for &copy in &copies[..pairs.len()] {
        // SAFETY: closes the copies made above.
        unsafe { libc::close(copy) };
    }
    Ok(())
}

/// A close-on-exec pipe (read end, write end).
pub fn pipe() -> SysResult<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| SysError::new("pipe2", e))
}

/// Sends `data` over a connected Unix socket with `fds` attached
/// (SCM_RIGHTS): the receiver gets its own copies of the open files.
pub fn send_with_fds(sock: BorrowedFd<'_>, data: &[u8], fds: &[RawFd]) -> SysResult<()> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    let iov = [std::io::IoSlice::new(data)];
    let cmsg = [ControlMessage::ScmRights(fds)];
    let sent = sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None)
        .map_err(|e| SysError::new("sendmsg(SCM_RIGHTS)", e))?;
    if sent != data.len() {
        // The request is small (one line); a short write means the peer is
        // gone or the socket is unusable.
        return Err(SysError::new(
            "sendmsg(SCM_RIGHTS)",
            nix::errno::Errno::EMSGSIZE,
        ));
    }
    Ok(())
}

/// Opens `path` close-on-exec with `flags` (O_RDONLY | O_DIRECTORY for a
/// container root, O_WRONLY for a cgroup.procs file).
pub fn open(path: &Path, flags: nix::fcntl::OFlag) -> SysResult<OwnedFd> {
    use std::os::fd::FromRawFd;
    let fd = nix::fcntl::open(
        path,
        flags | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| SysError::at("open", path, e))?;
    // SAFETY: `open` just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// An exclusive advisory lock (flock(2)) on an open file, held until the
/// value is dropped (or the process dies: the kernel releases it then).
pub type FileLock = nix::fcntl::Flock<std::fs::File>;

/// Takes an exclusive flock on `file` without waiting. `Ok(Err(file))`
/// when another open file description holds it (another process, or
/// another executor in this one).
pub fn try_lock_exclusive(
    file: std::fs::File,
    path: &Path,
) -> SysResult<Result<FileLock, std::fs::File>> {
    use nix::fcntl::{Flock, FlockArg};
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(Ok(lock)),
        Err((file, nix::errno::Errno::EWOULDBLOCK)) => Ok(Err(file)),
        Err((_, e)) => Err(SysError::at("flock", path, e)),
    }
}
