//! The floor under every container: the no-op work started by a plain
//! `chroot <rootfs> argv` (coreutils chroot(8): one extra exec), or
//! straight on the host.

use super::{run_checked, BaselineError};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Plain {
    /// `Some(rootfs)`: run through `chroot rootfs`; `None`: on the host.
    pub chroot: Option<PathBuf>,
}

impl Plain {
    pub fn host() -> Plain {
        Plain { chroot: None }
    }

    pub fn chroot(rootfs: &Path) -> Plain {
        Plain {
            chroot: Some(rootfs.to_path_buf()),
        }
    }

    pub fn label(&self) -> String {
        match &self.chroot {
            Some(_) => "chroot <rootfs>".into(),
            None => "host (no isolation)".into(),
        }
    }

    /// The exact command a run uses.
    pub fn command(&self, argv: &[String]) -> Result<Command, BaselineError> {
        let (first, rest) = argv.split_first().ok_or(BaselineError::EmptyArgv)?;
        Ok(match &self.chroot {
            Some(root) => {
                let mut c = Command::new("chroot");
                c.arg(root).args(argv);
                c
            }
            None => {
                let mut c = Command::new(first);
                c.args(rest);
                c
            }
        })
    }

    pub fn run_once(&self, argv: &[String]) -> Result<Duration, BaselineError> {
        run_checked(&mut self.command(argv)?)
    }
}
