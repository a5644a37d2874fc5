//! Destroying a container synchronously: the asynchronous destroy's kill
//! and queued remainder (`teardown.rs`) done at once. Its init is killed,
//! which takes every process of its PID namespace with it
//! (pid_namespaces(7)); the cgroup goes back to the pool, which
//! cgroup-kills anything still inside and waits until it is empty; one
//! lazy unmount detaches the root and every bind below it; its folder is
//! deleted. A Zygote's pre-forked children (spares) each wait in a pooled
//! cgroup of their own: destroying the Zygote kills them and returns those
//! too.

use super::{Container, Executor, ExecutorError};

impl Executor {
    pub fn destroy(&mut self, c: Container) -> Result<(), ExecutorError> {
        let id = c.id;
        let torn = self.teardown_now(c);
        // After the Zygote is gone: its spares, reparented to us, are
        // killed and reaped by the cgroup give-back.
        let spares = self.release_spares(id).map_err(ExecutorError::from);
        torn.and(spares).map_err(|e| ExecutorError::Destroy {
            id,
            source: Box::new(e),
        })
    }
}
