//! Idle instances with a deadline each, and their eviction order (least
//! recently idled first): the bookkeeping the fixed-lifetime and the
//! Hybrid Histogram policies share.

use super::idmap::IdMap;
use super::policy::KeepAliveDecision;
use crate::units::{InstanceId, Micros};
use std::collections::BTreeSet;

#[derive(Debug, Default)]
pub struct Deadlines {
    /// (deadline, id) of every idle instance.
    order: BTreeSet<(Micros, InstanceId)>,
    /// (idle since, id): the eviction order.
    lru: BTreeSet<(Micros, InstanceId)>,
    /// Each idle instance's (deadline, idle since).
    of: IdMap<InstanceId, (Micros, Micros)>,
}

impl Deadlines {
    /// `instance` became idle at `since` and may stay until `deadline`.
    pub fn insert(&mut self, instance: InstanceId, deadline: Micros, since: Micros) {
        self.order.insert((deadline, instance));
        self.lru.insert((since, instance));
        self.of.insert(instance, (deadline, since));
    }

    /// `instance` is no longer idle (reused, expired or evicted).
    pub fn remove(&mut self, instance: InstanceId) {
        if let Some((deadline, since)) = self.of.remove(&instance) {
            self.order.remove(&(deadline, instance));
            self.lru.remove(&(since, instance));
        }
    }

    /// The least recently idled instance.
    pub fn victim(&self) -> KeepAliveDecision {
        match self.lru.first() {
            Some(&(_, id)) => KeepAliveDecision::Evict(id),
            None => KeepAliveDecision::NoVictim,
        }
    }

    /// Instances whose deadline is at or before `now`.
    pub fn expired(&self, now: Micros) -> Vec<InstanceId> {
        self.order
            .iter()
            .take_while(|(deadline, _)| *deadline <= now)
            .map(|&(_, id)| id)
            .collect()
    }
}
