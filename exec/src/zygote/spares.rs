//! Pre-forked Zygote children ("spares", issue 9) and the cgroups they
//! wait in.
//!
//! A spare joins its container's cgroup when it is forked, not when it is
//! handed a container: on cgroup v1 a `cgroup.procs` write after >= 50 ms
//! without another migration waits for an RCU grace period
//! (`cgroup_threadgroup_rwsem`), 8-14 ms against 0.08 ms warm
//! (BENCHMARKS.md, issue 9), and a spare hit is exactly the start that
//! comes after a quiet spell. So [`Executor::refill`] takes a cgroup from
//! the pool, sends its `cgroup.procs` files with the request, and the
//! spare writes itself into them before it says it waits. A hit through
//! the spare ([`Executor::fork_with`] with `spare`) names that spare and
//! builds the container in that cgroup, so the critical path has no join.
//! (cgroup v2 takes the same path: the write is the same, and a pool
//! cgroup is a leaf, so no controller rule is broken.)
//!
//! Every reserved cgroup is tracked here until it is a container's (then
//! `destroy` returns it) or back in the pool: a spare found dead goes
//! back at the next refill or hit ([`Executor::prune_spares`]),
//! destroying the Zygote returns all of its spares' cgroups (the spares
//! are killed), and the executor's teardown destroys the whole pool.
//! The pool's limits are the same for every cgroup, so nothing needs to
//! be written at hand-off.

use super::{connect, join_fds, log_tail, Event, ForkError, Lines};
use crate::cgroup::{Cgroup, CgroupError};
use crate::container::{Container, Executor};
use crate::sys::{fs, process};
use nix::unistd::Pid;
use std::collections::{BTreeMap, VecDeque};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::Duration;

/// A pre-forked child and the pooled cgroup it has joined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spare {
    /// Its pid in the executor's PID namespace (it is PID 1 of its own).
    pub pid: Pid,
    pub cgroup: Cgroup,
}

/// Every Zygote's spares, oldest first, by the Zygote's container id; and
/// the Zygotes (container ids) of spares found dead since the caller last
/// asked ([`Executor::take_lost_spares`]).
#[derive(Debug, Default)]
pub struct Spares(BTreeMap<u64, VecDeque<Spare>>, Vec<u64>);

impl Spares {
    fn push(&mut self, zygote: u64, spare: Spare) {
        self.0.entry(zygote).or_default().push_back(spare);
    }

    fn pop_oldest(&mut self, zygote: u64) -> Option<Spare> {
        let q = self.0.get_mut(&zygote)?;
        let s = q.pop_front();
        if q.is_empty() {
            self.0.remove(&zygote);
        }
        s
    }

    fn take_all(&mut self, zygote: u64) -> VecDeque<Spare> {
        self.0.remove(&zygote).unwrap_or_default()
    }

    fn list(&self, zygote: u64) -> Vec<Spare> {
        self.0
            .get(&zygote)
            .map(|q| q.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Forgets every spare (their cgroups are about to be destroyed with
    /// the pool) and returns their pids, for the caller to reap once the
    /// pool's kill has run.
    pub(crate) fn clear(&mut self) -> Vec<Pid> {
        let pids = self.0.values().flatten().map(|s| s.pid).collect();
        self.0.clear();
        self.1.clear();
        pids
    }
}

impl Executor {
    /// Asks `zygote` to fork one more pre-forked child, which joins a
    /// pooled cgroup reserved for it before this returns (off the critical
    /// path: the hit it serves later pays no join). Returns its pid and how
    /// many the Zygote now holds. Spares found dead are dropped first.
    pub fn refill(
        &mut self,
        zygote: &Container,
        timeout: Duration,
    ) -> Result<(i32, usize), ForkError> {
        self.prune_spares(zygote);
        let cgroup = self.pool_take().map_err(ForkError::SpareCgroup)?;
        match self.refill_into(zygote, &cgroup, timeout) {
            Ok((pid, n)) => {
                let spare = Spare {
                    pid: Pid::from_raw(pid),
                    cgroup,
                };
                self.spares.push(zygote.id, spare);
                Ok((pid, n))
            }
            Err(e) => {
                // Kills a spare that got as far as joining.
                if let Err(ce) = self.pool_give_back(cgroup) {
                    tracing::warn!(error = %ce, "a failed refill's cgroup could not be returned");
                }
                Err(e)
            }
        }
    }

    fn refill_into(
        &self,
        zygote: &Container,
        cgroup: &Cgroup,
        timeout: Duration,
    ) -> Result<(i32, usize), ForkError> {
        let (pidns, procs) = join_fds(self, cgroup)?;
        let mut fds: Vec<RawFd> = vec![pidns.as_raw_fd()];
        fds.extend(procs.iter().map(|f| f.as_raw_fd()));
        let stream = connect(zygote)?;
        fs::send_with_fds(stream.as_fd(), b"{\"op\":\"refill\"}\n", &fds)?;
        drop((pidns, procs));
        let mut lines = Lines::new(stream, timeout);
        match lines.next()? {
            Some(Event::Spare { pid, spares }) => Ok((pid, spares)),
            Some(Event::Error { stage, error }) => Err(ForkError::Child { stage, error }),
            Some(other) => Err(ForkError::Protocol(format!(
                "expected spare, got {other:?}"
            ))),
            None => Err(ForkError::Closed("a refill", log_tail(zygote))),
        }
    }

    /// The Zygotes (container ids, one entry per spare) whose spares were
    /// found dead, while waiting, since the last call: the caller tells
    /// the planner (`Planner::on_spare_lost`).
    pub fn take_lost_spares(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.spares.1)
    }

    /// `zygote`'s spares, oldest first, each with the cgroup it joined.
    pub fn spares_of(&self, zygote: &Container) -> Vec<Spare> {
        self.spares.list(zygote.id)
    }

    /// Memory charged to `zygote`'s spares (bytes): each waits in its own
    /// cgroup, not its Zygote's, so a Zygote's cgroup no longer holds it.
    /// Returns the sum of the cgroups that could be read and how many could
    /// not (never a silent 0).
    pub fn spares_memory(&self, zygote: &Container) -> (u64, usize) {
        let mut unread = 0;
        let mut sum = 0;
        for s in self.spares.list(zygote.id).iter() {
            match self.backend().memory_current(&s.cgroup) {
                Ok(b) => sum += b,
                Err(e) => {
                    unread += 1;
                    tracing::warn!(spare = s.pid.as_raw(), error = %e, "reading a spare's memory failed");
                }
            }
        }
        (sum, unread)
    }

    /// Drops `zygote`'s spares that died (killed, or their Zygote went
    /// away) and returns their cgroups to the pool; returns how many.
    pub fn prune_spares(&mut self, zygote: &Container) -> usize {
        let mut dropped = 0;
        let mut live = VecDeque::new();
        for s in self.spares.take_all(zygote.id) {
            if self.spare_alive(&s) {
                live.push_back(s);
            } else {
                dropped += 1;
                self.spares.1.push(zygote.id);
                self.give_back_logged(s);
            }
        }
        for s in live {
            self.spares.push(zygote.id, s);
        }
        dropped
    }

    /// The oldest live spare of `zygote`, now the caller's (dead ones met
    /// on the way are dropped).
    pub(crate) fn take_spare(&mut self, zygote: u64) -> Option<Spare> {
        while let Some(s) = self.spares.pop_oldest(zygote) {
            if self.spare_alive(&s) {
                return Some(s);
            }
            self.spares.1.push(zygote);
            self.give_back_logged(s);
        }
        None
    }

    /// Kills `zygote`'s spares and returns their cgroups (the Zygote has
    /// just been destroyed). Every cgroup is tried; the first error is
    /// returned.
    pub(crate) fn release_spares(&mut self, zygote: u64) -> Result<(), CgroupError> {
        let mut first = Ok(());
        for s in self.spares.take_all(zygote) {
            let pid = s.pid;
            if let Err(e) = self.pool_give_back(s.cgroup) {
                if first.is_ok() {
                    first = Err(e);
                }
            }
            reap_orphan(pid);
        }
        first
    }

    /// Still waiting in its cgroup (a dead spare has left it; a pid that
    /// was reused elsewhere is not in it).
    fn spare_alive(&self, s: &Spare) -> bool {
        self.backend()
            .procs(&s.cgroup)
            .is_ok_and(|p| p.contains(&s.pid))
    }

    fn give_back_logged(&mut self, s: Spare) {
        let pid = s.pid;
        if let Err(e) = self.pool_give_back(s.cgroup) {
            tracing::warn!(spare = pid.as_raw(), error = %e, "returning a dead spare's cgroup failed");
        }
        // A spare whose Zygote died first was reparented to us: once dead it
        // has left its cgroup, so the cgroup wait does not see it; reap it
        // here (at once when it is not our child).
        reap_orphan(pid);
    }
}

/// With its Zygote gone, a spare is our child (we are a child subreaper):
/// once it has left its cgroup it may still be exiting, or a zombie (of
/// us, or of a Zygote that is itself exiting). Waits (bounded) until it
/// is reaped.
pub(crate) fn reap_orphan(pid: Pid) {
    if !process::reap_when_dead(pid, Duration::from_secs(2)) {
        tracing::warn!(spare = pid.as_raw(), "a dead Zygote's spare was not reaped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spare(pid: i32) -> Spare {
        Spare {
            pid: Pid::from_raw(pid),
            cgroup: Cgroup {
                rel: format!("p/pool-{pid}").into(),
            },
        }
    }

    #[test]
    fn spares_are_kept_per_zygote_oldest_first() {
        let mut s = Spares::default();
        s.push(1, spare(10));
        s.push(2, spare(20));
        s.push(1, spare(11));
        assert_eq!(s.list(1), vec![spare(10), spare(11)]);
        assert_eq!(s.pop_oldest(1), Some(spare(10)));
        assert_eq!(s.pop_oldest(1), Some(spare(11)));
        assert_eq!(s.pop_oldest(1), None);
        assert!(!s.0.contains_key(&1), "an empty queue is not kept");
        assert_eq!(s.take_all(2), VecDeque::from(vec![spare(20)]));
        assert!(s.0.is_empty());
        s.push(3, spare(30));
        s.clear();
        assert!(s.list(3).is_empty());
    }
}
