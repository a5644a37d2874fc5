//! Zygotes for real: starting them (forked from their parent, or fresh),
//! spares, repairs, and retiring them while forked children live.

use super::real::Real;
use super::{cerr, RunError};
use crate::container::{Container, ContainerSpec, Role};
use crate::zygote::ForkError;
use sock_core::config::ZygoteMode;
use sock_core::planner::Planner;
use sock_core::{PackageSet, ZygoteId};

impl Real<'_, '_> {
    /// Starts the Zygotes that exist from the start (the root, or a whole
    /// static tree); their spares come as the engine's start-up decisions.
    pub(super) fn start_zygotes(&mut self, planner: &Planner<'_>) -> Result<(), RunError> {
        if planner.config().zygote.mode == ZygoteMode::Off {
            return Ok(());
        }
        let nodes: Vec<(ZygoteId, PackageSet)> = planner
            .tree()
            .map(|t| t.nodes().map(|n| (n.id, n.packages.clone())).collect())
            .unwrap_or_default();
        // Parents come before children (ids grow with depth in a loaded tree;
        // ensure_zygote forks from the parent, starting it first if needed).
        for (z, packages) in nodes {
            self.install(planner, &packages)?;
            self.ensure_zygote(planner, z)?;
        }
        Ok(())
    }

    /// Has Zygote `z` fork one more pre-forked child (a `Refill`).
    pub(super) fn refill(&mut self, z: ZygoteId) {
        let Some(zc) = self.zygotes.get(&z) else {
            return; // dead: its repair starts its spares
        };
        match self.exec.refill(zc, self.opts.timeout) {
            Ok(_) => self.summary.spares_forked += 1,
            Err(e) => {
                self.summary.refill_failures += 1;
                tracing::warn!(zygote = z.0, error = %e, "forking a spare failed");
            }
        }
    }

    /// Makes Zygote `z` real: forked from its (real) parent, or started
    /// fresh when it is the root or its parent cannot fork.
    pub(super) fn ensure_zygote(
        &mut self,
        planner: &Planner<'_>,
        z: ZygoteId,
    ) -> Result<(), RunError> {
        if self.zygotes.contains_key(&z) {
            return Ok(());
        }
        let Some(node) = planner.tree().and_then(|t| t.node(z)).cloned() else {
            return Ok(());
        };
        let packages = self.mounts(&node.packages)?;
        let mut forked = None;
        if let Some(parent) = node.parent {
            self.ensure_zygote(planner, parent)?;
            let spec = ContainerSpec {
                packages: packages.clone(),
                imports: self.import_list(&node.own),
                ..ContainerSpec::default()
            };
            if let Some(pc) = self.zygotes.get(&parent) {
                match self
                    .exec
                    .fork_from(pc, &spec, Role::Zygote, self.opts.timeout)
                {
                    Ok((c, _)) => {
                        self.note_fork(pc.id, &c);
                        self.private.hold(c.id, &spec.packages);
                        forked = Some(c);
                    }
                    Err(e) => {
                        tracing::warn!(zygote = z.0, parent = parent.0, error = %e, "forking a Zygote failed; starting it fresh");
                        self.note_broken(parent, &e);
                    }
                }
            }
        }
        let c = match forked {
            Some(c) => c,
            None => {
                let spec = ContainerSpec {
                    packages,
                    imports: self.import_list(&node.packages),
                    ..ContainerSpec::default()
                };
                let c = self
                    .exec
                    .create_zygote(&spec)
                    .map_err(|e| cerr(format!("start Zygote {}", z.0), e))?;
                self.private.hold(c.id, &spec.packages);
                if let Err(e) = self.exec.ping(&c, self.opts.timeout) {
                    self.destroy_logged(c, "a Zygote that does not answer");
                    return Err(cerr(format!("start Zygote {}", z.0), e));
                }
                c
            }
        };
        self.zygotes.insert(z, c);
        Ok(())
    }

    /// `child` was forked from the Zygote container `parent`.
    pub(super) fn note_fork(&mut self, parent: u64, child: &Container) {
        self.parent_of.insert(child.id, parent);
        *self.live_children.entry(parent).or_default() += 1;
    }

    /// Destroys a container; if it was the last live child of a retired
    /// Zygote, that Zygote goes too. Synchronous: with
    /// `Executor::destroy_async` here, a run torn down after an error left
    /// one reparented child unreaped (`run_failures::sigterm_tears_the_run_down`
    /// found it), so the run loop keeps the whole teardown until that is fixed.
    pub(super) fn destroy(&mut self, c: Container) -> Result<(), crate::container::ExecutorError> {
        let id = c.id;
        // Concurrent: killed now, the rest of the teardown (unmounts,
        // cgroup back to the pool) off the loop (`collect_teardowns`).
        let result = if self.wall.is_some() {
            self.exec.destroy_async(c)
        } else {
            self.exec.destroy(c)
        };
        if let Err(e) = self.private.release(id) {
            self.note_teardown_error("deleting a private package copy", &e);
        }
        if let Some(parent) = self.parent_of.remove(&id) {
            let left = self.live_children.get_mut(&parent).map(|n| {
                *n -= 1;
                *n
            });
            if left == Some(0) {
                self.live_children.remove(&parent);
                if let Some(z) = self.retired.remove(&parent) {
                    self.destroy(z)?;
                }
            }
        }
        result
    }

    /// A Zygote leaves the tree: destroyed now, or, while containers forked
    /// from it live, kept (process, mounts and cgroup) until the last is
    /// gone. The pages they share with it are charged to its cgroup, so
    /// returning that cgroup to the pool early would bill them to the next
    /// container that gets it.
    pub(super) fn retire(&mut self, c: Container) -> Result<(), crate::container::ExecutorError> {
        if self.live_children.get(&c.id).is_some_and(|n| *n > 0) {
            self.summary.zygotes_kept_for_children += 1;
            self.retired.insert(c.id, c);
            Ok(())
        } else {
            self.destroy(c)
        }
    }

    /// A Zygote failed to fork: if it is gone (crashed, killed), drop its
    /// container now (the planner's repair re-creates it).
    pub(super) fn note_broken(&mut self, z: ZygoteId, e: &ForkError) {
        let dead = matches!(
            e,
            ForkError::Unreachable { .. } | ForkError::Closed(..) | ForkError::Timeout(_)
        );
        let alive = self
            .zygotes
            .get(&z)
            .is_some_and(|c| crate::sys::process::is_alive(c.init));
        if dead || !alive {
            if let Some(c) = self.zygotes.remove(&z) {
                if let Err(e) = self.retire(c) {
                    self.note_teardown_error("retiring a broken Zygote", &e);
                }
            }
        }
    }

    /// The planner's `RepairZygote`: whatever is left of Zygote `z` (it
    /// died, or lives but cannot fork) retires, and it is made anew; its
    /// spares follow as the plan's `Refill`s.
    pub(super) fn repair_zygote(&mut self, planner: &Planner<'_>, z: ZygoteId) {
        self.summary.zygote_repairs += 1;
        if let Some(c) = self.zygotes.remove(&z) {
            if let Err(e) = self.retire(c) {
                self.note_teardown_error("retiring a broken Zygote", &e);
            }
        }
        if let Err(e) = self.ensure_zygote(planner, z) {
            tracing::warn!(zygote = z.0, error = %e, "repairing a Zygote failed");
        }
    }
}
