//! Keep-alive (eviction) policies for the handler cache. A policy only
//! ranks idle instances and answers with decisions; the cache applies them.

use crate::units::{Bytes, FunctionId, InstanceId, Micros};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

/// What a policy knows about an instance that just became idle.
#[derive(Clone, Copy, Debug)]
pub struct IdleInfo {
    pub instance: InstanceId,
    pub function: FunctionId,
    pub memory: Bytes,
    /// Latency a cold start of this function would cost (for GDSF).
    pub cold_cost: Micros,
    pub now: Micros,
}

/// A keep-alive policy's answer when the cache must shed memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeepAliveDecision {
    Evict(InstanceId),
    /// Nothing is evictable (every instance is busy).
    NoVictim,
}

/// An eviction policy over idle (paused) handler instances. Busy instances
/// are never shown to the policy, so they can never be chosen.
pub trait KeepAlivePolicy: Debug + Send {
    fn name(&self) -> &'static str;
    /// A function was invoked (hit or miss).
    fn on_invoke(&mut self, _function: FunctionId) {}
    /// An instance became idle and joins the candidates.
    fn on_idle(&mut self, info: IdleInfo);
    /// An idle instance left the candidates (reused, expired or evicted).
    fn on_leave(&mut self, instance: InstanceId);
    /// The instance to evict next under memory pressure.
    fn choose_victim(&mut self) -> KeepAliveDecision;
    /// Instances whose keep-alive ran out at `now` (none for pure caches).
    fn expired(&mut self, _now: Micros) -> Vec<InstanceId> {
        Vec::new()
    }
}

/// Which policy to build; the configuration-file form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum PolicyConfig {
    /// Least recently used, no expiry.
    Lru,
    /// Fixed keep-alive (AWS-style): idle instances die after `ttl_s`
    /// seconds; under memory pressure the least recently used goes first.
    Ttl { ttl_s: f64 },
    /// Greedy-Dual-Size-Frequency (FaasCache, ASPLOS'21).
    Gdsf,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig::Ttl { ttl_s: 600.0 }
    }
}

impl PolicyConfig {
    pub fn build(&self) -> Box<dyn KeepAlivePolicy> {
        match self {
            PolicyConfig::Lru => Box::new(Lru::new(None)),
            PolicyConfig::Ttl { ttl_s } => Box::new(Lru::new(Some(Micros::from_ms_f64(ttl_s * 1000.0)))),
            PolicyConfig::Gdsf => Box::new(super::gdsf::Gdsf::default()),
        }
    }
}

/// LRU, optionally with a fixed TTL (then it is the TTL keep-alive policy).
/// Ties (same idle time) go to the lower instance id.
#[derive(Debug)]
pub struct Lru {
    ttl: Option<Micros>,
    order: BTreeSet<(Micros, InstanceId)>,
    since: BTreeMap<InstanceId, Micros>,
}

impl Lru {
    pub fn new(ttl: Option<Micros>) -> Lru {
        Lru { ttl, order: BTreeSet::new(), since: BTreeMap::new() }
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
        self.order.insert((info.now, info.instance));
        self.since.insert(info.instance, info.now);
    }

    fn on_leave(&mut self, instance: InstanceId) {
        if let Some(t) = self.since.remove(&instance) {
            self.order.remove(&(t, instance));
        }
    }

    fn choose_victim(&mut self) -> KeepAliveDecision {
        match self.order.first() {
            Some(&(_, id)) => KeepAliveDecision::Evict(id),
            None => KeepAliveDecision::NoVictim,
        }
    }

    fn expired(&mut self, now: Micros) -> Vec<InstanceId> {
        let Some(ttl) = self.ttl else { return Vec::new() };
        self.order
            .iter()
            .take_while(|(since, _)| *since + ttl <= now)
            .map(|&(_, id)| id)
            .collect()
    }
}
