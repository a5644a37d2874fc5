//! One executor per state folder. `Executor::new` takes an exclusive
//! flock(2) on `<state>/lock` before its crash recovery and holds it for
//! the executor's life, so starting `install` or `calibrate` on the
//! `--state` of a live run is refused (naming the folder and the holder's
//! pid, written into the file) instead of recovering, that is wiping, the
//! run's containers. The kernel releases the lock when the holder dies,
//! so a crashed run never blocks the next start. The file is opened
//! close-on-exec: containers never inherit it.

use super::ExecutorError;
use crate::sys::fs::{try_lock_exclusive, FileLock};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The held lock of a state folder; released when dropped.
#[derive(Debug)]
pub struct StateLock {
    _lock: FileLock,
    path: PathBuf,
}

impl StateLock {
    /// Locks `state` (created if missing) or says who holds it.
    pub fn acquire(state: &Path) -> Result<StateLock, ExecutorError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |err| ExecutorError::Io { path, err }
        };
        std::fs::create_dir_all(state).map_err(io(state))?;
        let path = state.join("lock");
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io(&path))?;
        match try_lock_exclusive(file, &path)? {
            Ok(lock) => {
                let mut f: &std::fs::File = &lock;
                f.set_len(0).map_err(io(&path))?;
                f.write_all(format!("{}\n", std::process::id()).as_bytes())
                    .map_err(io(&path))?;
                Ok(StateLock { _lock: lock, path })
            }
            Err(mut file) => {
                let mut text = String::new();
                let holder = match file.read_to_string(&mut text) {
                    Ok(_) if !text.trim().is_empty() => text.trim().to_string(),
                    _ => "unknown".into(),
                };
                Err(ExecutorError::Locked {
                    state: state.to_path_buf(),
                    holder,
                })
            }
        }
    }

    /// `<state>/lock`.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
