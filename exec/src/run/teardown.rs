//! Tearing a run down, in one place, on every exit path: `Runner::finish`
//! at the end of a replay, and `Drop` when a step returned an error or a
//! stop signal ended the replay (the `?` that leaves drops the runner and
//! with it the [`Real`] that holds the containers).
//! Paused handlers are thawed and destroyed, Zygotes retire (kept until
//! their children are gone, then destroyed), private package copies are
//! deleted. Failures are logged with `tracing` and counted
//! (`teardown_errors`), never dropped silently.

use super::real::Real;
use super::summary::RunSummary;
use super::RunError;
use crate::cgroup::Cgroup;
use crate::container::{Container, State};
use sock_core::planner::TierUsage;

impl Real<'_, '_> {
    /// At the end of a replay: measures the tiers' memory (the model's
    /// `usage` beside the cgroups'), tears everything down, and returns the
    /// summary.
    pub(super) fn finish(&mut self, usage: TierUsage) -> Result<RunSummary, RunError> {
        let mb = |b: u64| b as f64 / (1u64 << 20) as f64;
        let mut s = std::mem::take(&mut self.summary);
        s.zygote_mb_model = usage.zygote.as_mb_f64();
        s.handler_idle_mb_model = usage.handler_idle.as_mb_f64();
        let zygotes: Vec<_> = self
            .zygotes
            .values()
            .map(|c| (c.cgroup.clone(), self.exec.spares_memory(c)))
            .collect();
        for (cg, (spares, unread)) in zygotes {
            s.zygotes_live += 1;
            self.summary.memory_read_errors += unread as u64;
            // Spares wait in cgroups of their own; the model charges them
            // to their Zygote.
            s.zygote_mb_measured += mb(self.memory_of(&cg) + spares);
        }
        let idle: Vec<_> = self
            .instances
            .values()
            .map(|c| (c.state == State::Paused).then(|| c.cgroup.clone()))
            .collect();
        for cg in idle {
            s.handlers_live += 1;
            if let Some(cg) = cg {
                s.handler_idle_mb_measured += mb(self.memory_of(&cg));
            }
        }
        s.zygotes_retired = self.retired.len();
        let torn = self.teardown();
        s.teardown_errors += self.summary.teardown_errors;
        s.memory_read_errors += self.summary.memory_read_errors;
        torn?;
        s.wall_s = self.started.elapsed().as_secs_f64();
        Ok(s)
    }

    /// Destroys every container the run holds; returns the first error
    /// (all are logged and counted, and the teardown goes on past them).
    pub(super) fn teardown(&mut self) -> Result<(), RunError> {
        let mut first: Option<RunError> = None;
        let mut keep = |e: RunError| {
            if first.is_none() {
                first = Some(e);
            }
        };
        let instances: Vec<Container> = self.instances.drain().map(|(_, c)| c).collect();
        for c in instances {
            if let Err(e) = self.destroy(c) {
                self.note_teardown_error("destroying a handler", &e);
                keep(super::cerr("destroy", e));
            }
        }
        // Zygotes retire until their children are gone; destroying every
        // Zygote releases the retired ones in turn.
        let zygotes: Vec<Container> = std::mem::take(&mut self.zygotes).into_values().collect();
        for c in zygotes {
            if let Err(e) = self.retire(c) {
                self.note_teardown_error("destroying a Zygote", &e);
                keep(super::cerr("destroy Zygote", e));
            }
        }
        let left: Vec<Container> = self.retired.drain().map(|(_, c)| c).collect();
        for c in left {
            if let Err(e) = self.destroy(c) {
                self.note_teardown_error("destroying a retired Zygote", &e);
                keep(super::cerr("destroy Zygote", e));
            }
        }
        if let Err(e) = self.exec.drain_teardowns() {
            self.note_teardown_error("completing queued teardowns", &e);
            keep(super::cerr("teardown", e));
        }
        if let Err(e) = self.private.sweep() {
            self.note_teardown_error("deleting private package copies", &e);
            keep(e.into());
        }
        first.map_or(Ok(()), Err)
    }

    /// Destroys `c` where the run goes on either way: a failure is logged
    /// and counted.
    pub(super) fn destroy_logged(&mut self, c: Container, what: &str) {
        if let Err(e) = self.destroy(c) {
            self.note_teardown_error(what, &e);
        }
    }

    /// The executor's idle point (between calls, between loop rounds):
    /// finished teardowns complete and the prepared roots are topped up,
    /// off the next call's path. A failure is logged and counted.
    pub(super) fn idle(&mut self) {
        if let Err(e) = self.exec.collect_teardowns() {
            self.note_teardown_error("completing queued teardowns", &e);
        }
    }

    pub(super) fn note_teardown_error(&mut self, what: &str, e: &dyn std::fmt::Display) {
        self.summary.teardown_errors += 1;
        tracing::warn!(error = %e, "{what} failed; the run goes on");
    }

    /// A cgroup's memory (bytes); a failed read is logged, counted and
    /// left out (never reported as 0 MB).
    pub(super) fn memory_of(&mut self, cg: &Cgroup) -> u64 {
        match self.exec.backend().memory_current(cg) {
            Ok(b) => b,
            Err(e) => {
                self.summary.memory_read_errors += 1;
                tracing::warn!(cgroup = %cg.rel.display(), error = %e, "reading a cgroup's memory failed; left out of the measured figure");
                0
            }
        }
    }
}

impl Drop for Real<'_, '_> {
    /// The error and signal path: everything still held is torn down
    /// (`finish` leaves nothing, so this is then a no-op).
    fn drop(&mut self) {
        if self.instances.is_empty() && self.zygotes.is_empty() && self.retired.is_empty() {
            if let Err(e) = self.exec.drain_teardowns() {
                self.note_teardown_error("completing queued teardowns", &e);
            }
            return;
        }
        tracing::warn!(
            handlers = self.instances.len(),
            zygotes = self.zygotes.len() + self.retired.len(),
            "the run ended early; tearing its containers down"
        );
        // Errors are logged and counted by `teardown`.
        let _logged = self.teardown();
    }
}
