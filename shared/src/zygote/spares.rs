//! Pre-forked children ("spares") of each Zygote (issue 9).
//!
//! A Zygote keeps `k` children already forked, each already PID 1 of its
//! own new PID namespace, waiting for a container's fds. A Zygote hit that
//! finds a ready spare pays no fork on its critical path (only the spare's
//! entry into the container: cgroup join, `fchdir` + `chroot`, privilege
//! drop); the Zygote then forks a replacement (a refill), off the critical
//! path. Without a ready spare the hit forks as before.
//!
//! A Zygote is one single-threaded process, so its refills run one after
//! another: a refill requested at `now` starts when the previous one ends
//! (or at `now`) and takes one fork of the Zygote's memory. This module
//! only keeps the time each spare becomes ready; the planner decides when
//! to take one and to refill, and sim and sock-exec apply those decisions
//! (`Fork { spare }`, `SideDecision::Refill`).

use crate::units::{Micros, ZygoteId};
use std::collections::{BTreeMap, VecDeque};

/// Ready times of every Zygote's spares.
#[derive(Clone, Debug, Default)]
pub struct Spares {
    /// Spares per Zygote, in the order they become ready.
    per_zygote: BTreeMap<ZygoteId, VecDeque<Micros>>,
    per: u32,
}

impl Spares {
    /// `per` spares for every Zygote (0: the feature is off).
    pub fn new(per: u32) -> Spares {
        Spares {
            per_zygote: BTreeMap::new(),
            per,
        }
    }

    /// Spares each Zygote keeps.
    pub fn per_zygote(&self) -> u32 {
        self.per
    }

    /// A Zygote that serves from `ready_at` starts its `per` spares then,
    /// one fork (`fork`) after another; returns their ready times.
    pub fn add_zygote(&mut self, z: ZygoteId, ready_at: Micros, fork: Micros) -> Vec<Micros> {
        let q = self.per_zygote.entry(z).or_default();
        q.clear();
        let mut at = ready_at;
        for _ in 0..self.per {
            at += fork;
            q.push_back(at);
        }
        q.iter().copied().collect()
    }

    /// Takes a spare of `z` that is ready at `now`, if any.
    pub fn take(&mut self, z: ZygoteId, now: Micros) -> bool {
        match self.per_zygote.get_mut(&z) {
            Some(q) if q.front().is_some_and(|&t| t <= now) => {
                q.pop_front();
                true
            }
            _ => false,
        }
    }

    /// Schedules a replacement for a spare of `z` taken at `now`; returns
    /// when it is ready. It starts after the Zygote's previous refill.
    pub fn refill(&mut self, z: ZygoteId, now: Micros, fork: Micros) -> Micros {
        let q = self.per_zygote.entry(z).or_default();
        let start = q.back().map_or(now, |&last| last.max(now));
        let at = start + fork;
        q.push_back(at);
        at
    }

    /// A spare of `z` died while it waited (found dead by the executor):
    /// the oldest is dropped. Returns whether `z` had one.
    pub fn lose(&mut self, z: ZygoteId) -> bool {
        self.per_zygote
            .get_mut(&z)
            .is_some_and(|q| q.pop_front().is_some())
    }

    /// The Zygote left the tree; its spares go with it.
    pub fn remove(&mut self, z: ZygoteId) {
        self.per_zygote.remove(&z);
    }

    /// Spares of `z` (ready or still being forked).
    pub fn count(&self, z: ZygoteId) -> usize {
        self.per_zygote.get(&z).map_or(0, VecDeque::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const Z: ZygoteId = ZygoteId(3);

    #[test]
    fn spares_start_one_fork_after_another() {
        let mut s = Spares::new(2);
        let ready = s.add_zygote(Z, Micros(100), Micros(10));
        assert_eq!(ready, vec![Micros(110), Micros(120)]);
        assert!(!s.take(Z, Micros(109)), "not ready before its fork ends");
        assert!(s.take(Z, Micros(110)));
        assert_eq!(s.count(Z), 1);
    }

    #[test]
    fn refills_queue_behind_each_other() {
        let mut s = Spares::new(1);
        s.add_zygote(Z, Micros(0), Micros(10));
        assert!(s.take(Z, Micros(50)));
        assert_eq!(s.refill(Z, Micros(50), Micros(10)), Micros(60));
        // Taken again before the refill is done: no spare; a second refill
        // queues behind the first.
        assert!(!s.take(Z, Micros(55)));
        assert_eq!(s.refill(Z, Micros(55), Micros(10)), Micros(70));
        assert_eq!(s.count(Z), 2);
    }

    #[test]
    fn zero_spares_never_hit() {
        let mut s = Spares::new(0);
        assert!(s.add_zygote(Z, Micros(0), Micros(1)).is_empty());
        assert!(!s.take(Z, Micros(1_000_000)));
        s.remove(Z);
        assert_eq!(s.count(Z), 0);
    }
}
