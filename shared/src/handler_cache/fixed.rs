//! Fixed lifetime keep-alive (dslab-faas's "keepalive" policy): an instance
//! lives `lifetime` after it *first* became idle; reusing it does not
//! extend that, unlike the idle timeout ([`super::Lru`] with a TTL), whose
//! clock restarts at every release. An instance busy when its lifetime
//! runs out is destroyed when its call ends ([`Retain::Destroy`]). Under
//! memory pressure the least recently idled instance goes first.

use super::deadlines::Deadlines;
use super::policy::{IdleInfo, KeepAliveDecision, KeepAlivePolicy, ReleaseInfo, Retain};
use crate::units::{InstanceId, Micros};

#[derive(Debug)]
pub struct Fixed {
    lifetime: Micros,
    /// Idle instances: their deadlines and eviction order.
    idle: Deadlines,
}

impl Fixed {
    pub fn new(lifetime: Micros) -> Fixed {
        Fixed {
            lifetime,
            idle: Deadlines::default(),
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
        self.idle.insert(info.instance, end, info.now);
    }

    fn on_leave(&mut self, instance: InstanceId) {
        self.idle.remove(instance);
    }

    fn choose_victim(&mut self) -> KeepAliveDecision {
        self.idle.victim()
    }

    fn expired(&mut self, now: Micros) -> Vec<InstanceId> {
        self.idle.expired(now)
    }
}
