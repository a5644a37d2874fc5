//! Fixed lifetime keep-alive (dslab-faas's "keepalive" policy): an instance
//! lives `lifetime` after it *first* became idle; reusing it does not
//! extend that, unlike the idle timeout ([`super::Lru`] with a TTL), whose
//! clock restarts at every release. An instance busy when its lifetime
//! runs out is destroyed when its call ends ([`Retain::Destroy`]). Under
//! memory pressure the least recently idled instance goes first.

use super::idmap::IdMap;
use super::policy::{IdleInfo, KeepAliveDecision, KeepAlivePolicy, ReleaseInfo, Retain};
use crate::units::{InstanceId, Micros};
use std::collections::BTreeSet;

#[derive(Debug)]
pub struct Fixed {
    lifetime: Micros,
    /// (end of life, id) of every idle instance.
    order: BTreeSet<(Micros, InstanceId)>,
    /// (idle since, id): the eviction order.
    lru: BTreeSet<(Micros, InstanceId)>,
    /// Each idle instance's (end, idle since).
    end: IdMap<InstanceId, (Micros, Micros)>,
}

impl Fixed {
    pub fn new(lifetime: Micros) -> Fixed {
        Fixed {
            lifetime,
            order: BTreeSet::new(),
            lru: BTreeSet::new(),
            end: IdMap::default(),
        }
    }
}

impl KeepAlivePolicy for Fixed {
    fn name(&self) -> &'static str {
        "fixed"
    }

    fn on_release(&mut self, info: ReleaseInfo) -> Retain {
        let first = info.first_idle.unwrap_or(info.now);
        if first + self.lifetime <= info.now {
            Retain::Destroy
        } else {
            Retain::Keep
        }
    }

    fn on_idle(&mut self, info: IdleInfo) {
        let end = info.first_idle + self.lifetime;
        self.order.insert((end, info.instance));
        self.lru.insert((info.now, info.instance));
        self.end.insert(info.instance, (end, info.now));
    }

    fn on_leave(&mut self, instance: InstanceId) {
        if let Some((end, since)) = self.end.remove(&instance) {
            self.order.remove(&(end, instance));
            self.lru.remove(&(since, instance));
        }
    }

    fn choose_victim(&mut self) -> KeepAliveDecision {
        match self.lru.first() {
            Some(&(_, id)) => KeepAliveDecision::Evict(id),
            None => KeepAliveDecision::NoVictim,
        }
    }

    fn expired(&mut self, now: Micros) -> Vec<InstanceId> {
        self.order
            .iter()
            .take_while(|(end, _)| *end <= now)
            .map(|&(_, id)| id)
            .collect()
    }
}
