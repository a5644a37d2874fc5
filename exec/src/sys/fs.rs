//! Process-environment wrappers used while entering a container: chroot,
//! identity, no_new_privs, hostname, fd plumbing, exec.

use super::{SysError, SysResult};
use nix::unistd::{Gid, Uid};
use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;

pub fn chroot_to(dir: &Path) -> SysResult<()> {
    nix::unistd::chroot(dir).map_err(|e| SysError::at("chroot", dir, e))?;
    nix::unistd::chdir("/").map_err(|e| SysError::at("chdir", "/", e))
}

/// Drops to `uid`/`gid` with no supplementary groups (setgroups before
/// setgid before setuid: after setuid the others are no longer allowed).
pub fn drop_privileges(uid: u32, gid: u32) -> SysResult<()> {
    nix::unistd::setgroups(&[]).map_err(|e| SysError::new("setgroups", e))?;
    nix::unistd::setresgid(Gid::from_raw(gid), Gid::from_raw(gid), Gid::from_raw(gid))
        .map_err(|e| SysError::new("setresgid", e))?;
    nix::unistd::setresuid(Uid::from_raw(uid), Uid::from_raw(uid), Uid::from_raw(uid))
        .map_err(|e| SysError::new("setresuid", e))
}

/// PR_SET_NO_NEW_PRIVS: execve can never grant privileges again (setuid
/// binaries, file capabilities).
pub fn no_new_privs() -> SysResult<()> {
    nix::sys::prctl::set_no_new_privs().map_err(|e| SysError::new("prctl(PR_SET_NO_NEW_PRIVS)", e))
}

pub fn set_hostname(name: &str) -> SysResult<()> {
    nix::unistd::sethostname(name).map_err(|e| SysError::new("sethostname", e))
}

/// Places `fd` at number `target` without O_CLOEXEC, so it survives exec
/// (the only fds a container inherits are placed this way).
pub fn install_fd(fd: BorrowedFd<'_>, target: RawFd) -> SysResult<()> {
    if fd.as_raw_fd() == target {
        // dup2 onto itself would keep O_CLOEXEC; clear it explicitly.
        let flags = nix::fcntl::FdFlag::empty();
        nix::fcntl::fcntl(target, nix::fcntl::FcntlArg::F_SETFD(flags))
            .map_err(|e| SysError::new("fcntl(F_SETFD)", e))?;
        return Ok(());
    }
    nix::unistd::dup2(fd.as_raw_fd(), target).map_err(|e| SysError::new("dup2", e))?;
    Ok(())
}

/// Places each `(source, target)` pair: afterwards fd `target` refers to
/// what `source` referred to, without O_CLOEXEC (see [`install_fd`]).
///
/// Every source is first duplicated above the highest target (close-on-
/// exec), and only those copies are `dup2`ed into place: placing the pairs
/// in order would overwrite a source that sits on a lower target (the
/// listening socket on fd 0, say, when the executor runs with stdin
/// closed) before it was placed itself.
pub fn place_fds(pairs: &[(BorrowedFd<'_>, RawFd)]) -> SysResult<()> {
    use nix::fcntl::{fcntl, FcntlArg};
    let above = pairs.iter().map(|(_, t)| *t).max().unwrap_or(0) + 1;
    let mut moved = Vec::with_capacity(pairs.len());
    for (fd, _) in pairs {
        let copy = fcntl(fd.as_raw_fd(), FcntlArg::F_DUPFD_CLOEXEC(above))
            .map_err(|e| SysError::new("fcntl(F_DUPFD_CLOEXEC)", e))?;
        moved.push(copy);
    }
    for (copy, (_, target)) in moved.iter().zip(pairs) {
        nix::unistd::dup2(*copy, *target).map_err(|e| SysError::new("dup2", e))?;
    }
    for copy in moved {
        nix::unistd::close(copy).map_err(|e| SysError::new("close", e))?;
    }
    Ok(())
}

/// A close-on-exec pipe (read end, write end).
pub fn pipe() -> SysResult<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| SysError::new("pipe2", e))
}

/// Replaces the process image. Returns only on failure.
pub fn exec(program: &CString, argv: &[CString], env: &[CString]) -> SysError {
    match nix::unistd::execve(program, argv, env) {
        Err(e) => SysError::new("execve", e),
        Ok(never) => match never {},
    }
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
