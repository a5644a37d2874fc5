//! Destroying a container: kill its init, which takes every process of its
//! PID namespace with it (pid_namespaces(7)); return the cgroup to the
//! pool, which cgroup-kills anything still inside and waits until it is
//! empty; unmount in reverse order; delete its folder. A Zygote's
//! pre-forked children (spares) each wait in a pooled cgroup of their own:
//! destroying the Zygote kills them and returns those too.

use super::{Container, Executor, ExecutorError, State};
use crate::sys::{mount, process};
use nix::sys::signal::Signal;

impl Executor {
    pub fn destroy(&mut self, c: Container) -> Result<(), ExecutorError> {
        let id = c.id;
        let torn = self.teardown(c);
        // After the Zygote is gone: its spares, reparented to us, are
        // killed and reaped by the cgroup give-back.
        let spares = self.release_spares(id).map_err(ExecutorError::from);
        torn.and(spares).map_err(|e| ExecutorError::Destroy {
            id,
            source: Box::new(e),
        })
    }

    fn teardown(&mut self, c: Container) -> Result<(), ExecutorError> {
        if c.state == State::Paused {
            // Frozen tasks do not act on SIGKILL until thawed (cgroup v1).
            self.backend().thaw(&c.cgroup)?;
        }
        if process::is_our_child(c.init) {
            // Ours: its number cannot be reused before we reap it. Reaping
            // PID 1 waits until the kernel has killed the whole namespace.
            process::kill(c.init, Signal::SIGKILL)?;
            process::wait_reaped(c.init)?;
        }
        // A process forked from a Zygote is the Zygote's child, which may
        // have reaped it already (its number reused by anyone): it is
        // killed through its cgroup only, below.
        // The pool's give-back kills anything still in the cgroup and waits
        // until it is empty (for a Zygote's child, that is the wait), so
        // nothing runs in the container once its mounts go.
        self.pool_give_back(c.cgroup)?;
        for m in c.mounts.iter().rev() {
            mount::unmount(m, true)?;
        }
        std::fs::remove_dir_all(&c.dir).map_err(|err| ExecutorError::Io {
            path: c.dir.clone(),
            err,
        })?;
        Ok(())
    }
}
