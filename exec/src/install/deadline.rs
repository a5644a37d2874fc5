//! Running pip with a deadline. pip's output goes to two unlinked
//! temporary files rather than pipes (so a chatty pip can never block on a
//! full pipe while we wait), the process runs in its own process group, and
//! past the deadline the whole group is killed (pip may have started
//! helpers). No threads: the executor forks containers.

use crate::sys::process;
use std::io::{Read, Seek};
use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};
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

/// Runs `cmd` to completion or until `timeout`, then kills its process
/// group and reaps it.
pub(super) fn output_within(mut cmd: Command, timeout: Duration) -> Result<Output, RunError> {
    let (out, err) = (
        scratch_file().map_err(RunError::Io)?,
        scratch_file().map_err(RunError::Io)?,
    );
    cmd.stdin(Stdio::null())
        .stdout(out.try_clone().map_err(RunError::Io)?)
        .stderr(err.try_clone().map_err(RunError::Io)?)
        .process_group(0);
    let mut child = cmd.spawn().map_err(RunError::Io)?;
    let deadline = Instant::now() + timeout;
    let mut nap = Duration::from_millis(1);
    let status = loop {
        if let Some(status) = child.try_wait().map_err(RunError::Io)? {
            break status;
        }
        let now = Instant::now();
        if now >= deadline {
            process::kill_group(child.id());
            // Reap it (SIGKILL cannot be ignored, so this returns).
            let _reaped = child.wait();
            return Err(RunError::Timeout);
        }
        std::thread::sleep(nap.min(deadline - now));
        nap = (nap * 2).min(Duration::from_millis(20));
    };
    Ok(Output {
        status,
        stdout: read_all(out).map_err(RunError::Io)?,
        stderr: read_all(err).map_err(RunError::Io)?,
    })
}
