//! The OS boundary: every raw `nix`/`libc` call of sock-exec lives under
//! this module, as small typed wrappers. Callers never see a raw syscall.
//! Each `unsafe` block carries a `// SAFETY:` comment.

pub mod clock;
pub mod fs;
pub mod mount;
pub mod prim;
pub mod process;
pub mod signal;

use nix::errno::Errno;
use std::path::PathBuf;

/// A failed system call: which operation, on what, and the errno.
#[derive(Debug, thiserror::Error)]
#[error("{op}{}: {errno}", path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
pub struct SysError {
    pub op: &'static str,
    pub path: Option<PathBuf>,
    pub errno: Errno,
}

impl SysError {
    pub fn new(op: &'static str, errno: Errno) -> SysError {
        SysError {
            op,
            path: None,
            errno,
        }
    }

    pub fn at(op: &'static str, path: impl Into<PathBuf>, errno: Errno) -> SysError {
        SysError {
            op,
            path: Some(path.into()),
            errno,
        }
    }
}

pub type SysResult<T> = Result<T, SysError>;
