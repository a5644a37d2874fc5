//! Prepared roots: container folders with the steps that do not depend on
//! the container's handler or packages already done (create.rs steps 2,
//! 3, 5 and 7: the folders, the image bound read-only at `root/`, scratch
//! bound at `root/host` and `root/tmp`, the listening socket and the log).
//! They are made at idle points ([`Executor::collect_teardowns`]), up to
//! [`super::ExecutorConfig::prepared_roots`], so a create pays only its
//! cgroup, its handler's bind, its packages and the spawn on the critical
//! path. With none ready a create does every step itself, as before.
//!
//! A prepared root is a container folder like any other (`c<id>` under
//! the containers folder): a crash leaves it to the same recovery sweep,
//! and shutdown unmounts and removes the ones never used.

use super::create::{CreateError, Partial};
use super::Executor;
use crate::sys::mount;
use std::collections::VecDeque;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

/// A container folder with the generic steps done, no cgroup yet.
pub(crate) struct Blank {
    pub(crate) partial: Partial,
    pub(crate) socket: PathBuf,
    pub(crate) listener: OwnedFd,
    pub(crate) output: OwnedFd,
}

/// The prepared roots, oldest first.
#[derive(Default)]
pub(crate) struct Blanks {
    queue: VecDeque<Blank>,
}

impl std::fmt::Debug for Blanks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Blanks({} ready)", self.queue.len())
    }
}

impl Executor {
    /// Prepared roots ready for a create.
    pub fn prepared_roots(&self) -> usize {
        self.blanks.queue.len()
    }

    /// Tops the prepared roots up to the configured number (an idle
    /// point). On failure the half-made one is undone and the error
    /// returned; creates then do every step themselves.
    pub(crate) fn refill_blanks(&mut self) -> Result<(), CreateError> {
        while self.blanks.queue.len() < self.config.prepared_roots {
            let mut p = self.new_partial();
            match self.generic_steps(&mut p) {
                Ok((socket, listener, output)) => self.blanks.queue.push_back(Blank {
                    partial: p,
                    socket,
                    listener,
                    output,
                }),
                Err(e) => {
                    self.undo(p);
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// The oldest prepared root, if one is ready.
    pub(crate) fn take_blank(&mut self) -> Option<Blank> {
        self.blanks.queue.pop_front()
    }

    /// Unmounts and removes the prepared roots never used (shutdown).
    /// Failures are logged; what is left is the recovery sweep's.
    pub(crate) fn discard_blanks(&mut self) {
        while let Some(b) = self.blanks.queue.pop_front() {
            let Blank {
                partial, listener, ..
            } = b;
            drop(listener);
            if let Err(e) = mount::unmount(&partial.root, true) {
                tracing::warn!(container = partial.id, error = %e, "unmounting a prepared root failed");
            }
            if let Err(e) = std::fs::remove_dir_all(&partial.dir) {
                tracing::warn!(container = partial.id, error = %e, "removing a prepared root failed");
            }
        }
    }
}
