//! Asynchronous teardown (SOCK §4.1 takes destroy off the critical path).
//! [`Executor::destroy_async`] does only what must happen before the next
//! request: SIGKILL of the container's init (which takes its whole PID
//! namespace with it), or of what its cgroup holds when the init is not
//! our child (a Zygote's). The rest waits in a bounded queue:
//!
//! - reap the init (our child: its pid cannot be reused before that);
//! - give the cgroup back to the pool once it is empty (until then it is
//!   in no free list, so it is never handed to another container);
//! - one lazy unmount of the container's root, which detaches every bind
//!   below it in a single `umount2` (one RCU synchronisation, not one per
//!   mount), then the folder's removal.
//!
//! Single-threaded like the rest of the executor (it forks, so it runs no
//! helper thread): a queued teardown is completed lazily, without waiting,
//! by [`Executor::collect_teardowns`] (the idle point: between a run's
//! calls, calibrate's samples, the bench's operations; it also tops up
//! the prepared roots, `blank.rs`) and by a create that finds the pool
//! empty (without the top-up), and by waiting when the queue is full (the
//! oldest), in [`Executor::drain_teardowns`], `shutdown` and `drop` (whose
//! sweep also catches any it could not finish).

use super::{Container, Executor, ExecutorError, State};
use crate::cgroup::Cgroup;
use crate::sys::{mount, process};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::collections::VecDeque;
use std::path::PathBuf;

/// A killed container whose remains are not yet cleaned up.
#[derive(Debug)]
pub(crate) struct Teardown {
    id: u64,
    cgroup: Cgroup,
    /// The init when it is our child: reaped before the cgroup goes back.
    init: Option<Pid>,
    root: PathBuf,
    /// Whether any mount was made (a container always binds its root).
    mounted: bool,
    dir: PathBuf,
}

/// The queue of teardowns, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Teardowns {
    queue: VecDeque<Teardown>,
}

impl Teardowns {
    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }
}

impl Executor {
    /// Kills `c` and queues the rest of its teardown (see the module doc);
    /// returns once the container can no longer run anything that matters
    /// to the next request. A Zygote's spares are released at once.
    pub fn destroy_async(&mut self, c: Container) -> Result<(), ExecutorError> {
        let id = c.id;
        let queued = self.kill_and_queue(c);
        let spares = self.release_spares(id).map_err(ExecutorError::from);
        let bound = self.bound_teardowns();
        queued
            .and(spares)
            .and(bound)
            .map_err(|e| ExecutorError::Destroy {
                id,
                source: Box::new(e),
            })
    }

    fn kill_and_queue(&mut self, c: Container) -> Result<(), ExecutorError> {
        if c.state == State::Paused {
            // Frozen tasks do not act on SIGKILL until thawed (cgroup v1).
            self.backend().thaw(&c.cgroup)?;
        }
        let init = if process::is_our_child(c.init) {
            process::kill(c.init, Signal::SIGKILL)?;
            Some(c.init)
        } else {
            // A Zygote's child (the Zygote may have reaped it, its number
            // reused by anyone): killed through its cgroup only.
            self.backend().signal_all(&c.cgroup)?;
            None
        };
        self.teardowns.queue.push_back(Teardown {
            id: c.id,
            cgroup: c.cgroup,
            init,
            mounted: !c.mounts.is_empty(),
            root: c.root,
            dir: c.dir,
        });
        Ok(())
    }

    /// [`Executor::destroy`]'s teardown: queued, then completed at once.
    pub(super) fn teardown_now(&mut self, c: Container) -> Result<(), ExecutorError> {
        self.kill_and_queue(c)?;
        let t = self.teardowns.queue.pop_back().expect("just queued");
        self.complete(t)
    }

    /// Makes a pooled cgroup free for a create when none is: completes the
    /// queued teardowns that are done, else waits for the oldest, so the
    /// pool grows (a cold cgroup) only when nothing is pending. Failures
    /// are logged: the pool then grows, and drop's sweep cleans up.
    pub(super) fn make_room(&mut self) {
        if self.pool.free() > 0 || self.teardowns.len() == 0 {
            return;
        }
        if let Err(e) = self.complete_done_teardowns() {
            tracing::warn!(error = %e, "completing a queued teardown failed");
        }
        if self.pool.free() == 0 {
            if let Some(t) = self.teardowns.queue.pop_front() {
                if let Err(e) = self.complete(t) {
                    tracing::warn!(error = %e, "completing a queued teardown failed");
                }
            }
        }
    }

    /// Waits for the oldest teardowns while more than the bound are queued.
    fn bound_teardowns(&mut self) -> Result<(), ExecutorError> {
        let bound = self.config.max_pending_teardowns;
        while self.teardowns.len() > bound {
            let t = self
                .teardowns
                .queue
                .pop_front()
                .expect("queue is not empty");
            self.complete(t)?;
        }
        Ok(())
    }

    /// Teardowns queued and not yet completed.
    pub fn pending_teardowns(&self) -> usize {
        self.teardowns.len()
    }

    /// Completes every queued teardown whose processes are gone, without
    /// waiting for the others, then tops up the prepared roots (`blank.rs`;
    /// a failure there is logged: creates then do every step themselves);
    /// returns how many teardowns are still queued.
    pub fn collect_teardowns(&mut self) -> Result<usize, ExecutorError> {
        let left = self.complete_done_teardowns();
        if let Err(e) = self.refill_blanks() {
            tracing::warn!(error = %e, "preparing a container root failed");
        }
        left
    }

    fn complete_done_teardowns(&mut self) -> Result<usize, ExecutorError> {
        let mut first = Ok(());
        for _ in 0..self.teardowns.len() {
            let t = self.teardowns.queue.pop_front().expect("counted");
            match self.is_gone(&t) {
                Ok(true) => {
                    if let Err(e) = self.complete(t) {
                        first = first.and(Err(e));
                    }
                }
                Ok(false) => self.teardowns.queue.push_back(t),
                Err(e) => {
                    self.teardowns.queue.push_back(t);
                    first = first.and(Err(e));
                }
            }
        }
        first.map(|()| self.teardowns.len())
    }

    /// Completes every queued teardown, waiting for each; on errors it goes
    /// on with the rest and returns the first.
    pub fn drain_teardowns(&mut self) -> Result<(), ExecutorError> {
        let mut first = Ok(());
        while let Some(t) = self.teardowns.queue.pop_front() {
            if let Err(e) = self.complete(t) {
                first = first.and(Err(e));
            }
        }
        first
    }

    /// Whether `t`'s processes are all gone (its init reaped here).
    fn is_gone(&self, t: &Teardown) -> Result<bool, ExecutorError> {
        if let Some(init) = t.init {
            // Once PID 1 of the namespace is reapable, the kernel has
            // killed and reaped every other process of the namespace.
            if process::try_wait(init)?.is_none() {
                return Ok(false);
            }
        }
        Ok(self.backend().procs(&t.cgroup)?.is_empty())
    }

    /// The rest of the teardown, waiting where it must.
    fn complete(&mut self, t: Teardown) -> Result<(), ExecutorError> {
        let wrap = |e: ExecutorError| ExecutorError::Destroy {
            id: t.id,
            source: Box::new(e),
        };
        if let Some(init) = t.init {
            process::wait_reaped(init).map_err(|e| wrap(e.into()))?;
        }
        // Kills anything still in the cgroup and waits until it is empty:
        // nothing runs in the container once its mounts go.
        self.pool_give_back(t.cgroup.clone())
            .map_err(|e| wrap(e.into()))?;
        if t.mounted {
            mount::unmount(&t.root, true).map_err(|e| wrap(e.into()))?;
        }
        std::fs::remove_dir_all(&t.dir).map_err(|err| {
            wrap(ExecutorError::Io {
                path: t.dir.clone(),
                err,
            })
        })
    }
}
