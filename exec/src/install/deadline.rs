//! Running pip with a deadline. pip's output goes to two unlinked
//! temporary files rather than pipes (so a chatty pip can never block on a
//! full pipe while we wait), the process runs in its own process group, and
//! past the deadline the whole group is killed (pip may have started
//! helpers). No threads: the executor forks containers.
//!
//! A run is [`spawn`]ed and then either waited for ([`Spawned::wait`], the
//! blocking path) or polled ([`Spawned::poll`]) by a caller that watches
//! [`Spawned::pidfd`] in its own `poll(2)` set with [`Spawned::deadline`]
//! in its timeout (the concurrent replay's loop, issue 12).

use crate::sys::process;
use std::io::{Read, Seek};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// What can go wrong besides pip's own failure.
#[derive(Debug)]
pub(super) enum RunError {
    Io(std::io::Error),
    Timeout,
}

/// An unlinked temporary file (close-on-exec, as std opens every file).
fn scratch_file() -> std::io::Result<std::fs::File> {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("sock-exec-pip-{}-{n}", std::process::id()));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    std::fs::remove_file(&path)?;
    Ok(file)
}

fn read_all(mut f: std::fs::File) -> std::io::Result<Vec<u8>> {
    f.rewind()?;
    let mut out = Vec::new();
    f.read_to_end(&mut out)?;
    Ok(out)
}

/// A command running under a deadline.
#[derive(Debug)]
pub(super) struct Spawned {
    child: Child,
    /// Readable once the child exits.
    pidfd: OwnedFd,
    out: std::fs::File,
    err: std::fs::File,
    deadline: Instant,
}

/// Starts `cmd` (stdin null, output to scratch files, its own process
/// group), to be killed past `timeout` from now.
pub(super) fn spawn(mut cmd: Command, timeout: Duration) -> Result<Spawned, RunError> {
    let (out, err) = (
        scratch_file().map_err(RunError::Io)?,
        scratch_file().map_err(RunError::Io)?,
    );
    cmd.stdin(Stdio::null())
        .stdout(out.try_clone().map_err(RunError::Io)?)
        .stderr(err.try_clone().map_err(RunError::Io)?)
        .process_group(0);
    let mut child = cmd.spawn().map_err(RunError::Io)?;
    let pidfd = match process::pidfd_open(child.id()) {
        Ok(fd) => fd,
        Err(e) => {
            process::kill_group(child.id());
            let _reaped = child.wait();
            return Err(RunError::Io(std::io::Error::from_raw_os_error(
                e.errno as i32,
            )));
        }
    };
    Ok(Spawned {
        child,
        pidfd,
        out,
        err,
        deadline: Instant::now() + timeout,
    })
}

impl Spawned {
    /// Polls readable once the command has exited.
    pub(super) fn pidfd(&self) -> BorrowedFd<'_> {
        self.pidfd.as_fd()
    }

    /// When it is killed.
    pub(super) fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Without blocking: `Err(self)` while it runs within its deadline;
    /// past it, its process group is killed and reaped (a timeout).
    pub(super) fn poll(mut self) -> Result<Result<Output, RunError>, Spawned> {
        match self.child.try_wait() {
            Err(e) => Ok(Err(RunError::Io(e))),
            Ok(Some(status)) => Ok(self.output(status)),
            Ok(None) if Instant::now() >= self.deadline => {
                process::kill_group(self.child.id());
                // Reap it (SIGKILL cannot be ignored, so this returns).
                let _reaped = self.child.wait();
                Ok(Err(RunError::Timeout))
            }
            Ok(None) => Err(self),
        }
    }

    /// Blocks until it exits or its deadline passes (then kills it).
    pub(super) fn wait(self) -> Result<Output, RunError> {
        let mut run = self;
        loop {
            run = match run.poll() {
                Ok(done) => return done,
                Err(run) => run,
            };
            let left = run.deadline.saturating_duration_since(Instant::now());
            wait_readable(run.pidfd(), left);
        }
    }

    fn output(self, status: std::process::ExitStatus) -> Result<Output, RunError> {
        Ok(Output {
            status,
            stdout: read_all(self.out).map_err(RunError::Io)?,
            stderr: read_all(self.err).map_err(RunError::Io)?,
        })
    }
}

/// Waits up to `left` (at least 1 ms, at most ~24 days) for `fd` to poll
/// readable; an interrupted or failed poll just returns (the caller
/// re-checks).
fn wait_readable(fd: BorrowedFd<'_>, left: Duration) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
    let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
    let _ready_or_interrupted = poll(
        &mut fds,
        PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
    );
}

/// Runs `cmd` to completion or until `timeout`, then kills its process
/// group and reaps it.
pub(super) fn output_within(cmd: Command, timeout: Duration) -> Result<Output, RunError> {
    spawn(cmd, timeout)?.wait()
}

impl Spawned {
    /// Kills its process group and reaps it (a run abandoned unfinished).
    pub(super) fn kill(mut self) {
        process::kill_group(self.child.id());
        let _reaped = self.child.wait();
    }
}
