//! LRU keep-alive, optionally with a TTL (an idle timeout, reset on every
//! reuse): the default policy's data structure.

use super::idmap::IdMap;
use super::policy::{IdleInfo, KeepAliveDecision, KeepAlivePolicy};
use crate::units::{InstanceId, Micros};
use std::collections::VecDeque;

/// LRU, optionally with a fixed TTL (then it is the TTL keep-alive policy).
/// Ties (same idle time) go to the lower instance id.
///
/// Instances usually go idle in non-decreasing time, so the idle order is
/// a queue kept sorted by (idle since, id): `on_idle` appends, `on_leave`
/// only forgets the instance, and stale queue entries are skipped at the
/// front and compacted away once they outnumber live ones. Every operation
/// is O(1) amortized. An instance idle since an earlier time than the
/// newest entry (keep-alive from the call's start, [`super::KeepaliveFrom`])
/// is inserted at its place (binary search), so it expires on time.
#[derive(Debug)]
pub struct Lru {
    ttl: Option<Micros>,
    queue: VecDeque<(Micros, InstanceId)>,
    since: IdMap<InstanceId, Micros>,
}

impl Lru {
    pub fn new(ttl: Option<Micros>) -> Lru {
        Lru {
            ttl,
            queue: VecDeque::new(),
            since: IdMap::default(),
        }
    }

    fn is_live(&self, entry: &(Micros, InstanceId)) -> bool {
        self.since.get(&entry.1) == Some(&entry.0)
    }

    fn live_in_order(&self) -> impl Iterator<Item = &(Micros, InstanceId)> {
        self.queue.iter().filter(|e| self.is_live(e))
    }
}

impl KeepAlivePolicy for Lru {
    fn name(&self) -> &'static str {
        if self.ttl.is_some() {
            "ttl"
        } else {
            "lru"
        }
    }

    fn on_idle(&mut self, info: IdleInfo) {
        let entry = (info.now, info.instance);
        // Keep (time, id) order; stale entries are still in that order.
        if self.queue.back().is_none_or(|last| *last < entry) {
            self.queue.push_back(entry);
        } else {
            let at = self.queue.partition_point(|e| *e < entry);
            self.queue.insert(at, entry);
        }
        self.since.insert(info.instance, info.now);
    }

    fn on_leave(&mut self, instance: InstanceId) {
        if self.since.remove(&instance).is_none() {
            return;
        }
        while self.queue.front().is_some_and(|e| !self.is_live(e)) {
            self.queue.pop_front();
        }
        if self.queue.len() > 2 * self.since.len() + 64 {
            let since = &self.since;
            self.queue.retain(|(t, id)| since.get(id) == Some(t));
        }
    }

    fn choose_victim(&mut self) -> KeepAliveDecision {
        match self.live_in_order().next() {
            Some(&(_, id)) => KeepAliveDecision::Evict(id),
            None => KeepAliveDecision::NoVictim,
        }
    }

    fn expired(&mut self, now: Micros) -> Vec<InstanceId> {
        let Some(ttl) = self.ttl else {
            return Vec::new();
        };
        self.live_in_order()
            .take_while(|(since, _)| *since + ttl <= now)
            .map(|&(_, id)| id)
            .collect()
    }
}
