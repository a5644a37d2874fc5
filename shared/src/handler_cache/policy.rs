//! Keep-alive (eviction) policies for the handler cache. A policy only
//! ranks idle instances and answers with decisions; the cache applies them.

use super::idmap::IdMap;
use crate::units::{Bytes, FunctionId, InstanceId, Micros};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
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

/// Which policy to build; the configuration-file form:
/// `{"kind": "lru"}`, `{"kind": "ttl", "ttl_s": 600}`, `{"kind": "gdsf"}`.
/// Read through [`RawPolicy`], so that a key other than `kind` and (for
/// `ttl`) `ttl_s` is an error for every kind (serde ignores extra keys in
/// the unit variants of an internally tagged enum, issue 12).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PolicyConfig {
    /// Least recently used, no expiry.
    Lru,
    /// Fixed keep-alive (AWS-style): idle instances die after `ttl_s`
    /// seconds; under memory pressure the least recently used goes first.
    Ttl { ttl_s: f64 },
    /// Greedy-Dual-Size-Frequency (FaasCache, ASPLOS'21).
    Gdsf,
}

#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum PolicyKind {
    Lru,
    Ttl,
    Gdsf,
}

/// The file form of a [`PolicyConfig`], every key known.
#[derive(Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
struct RawPolicy {
    kind: PolicyKind,
    ttl_s: Option<f64>,
}
object_only!(RawPolicy, "tiers.handler.policy");

impl<'de> Deserialize<'de> for PolicyConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let raw = <RawPolicy as Deserialize>::deserialize(d)?;
        match (raw.kind, raw.ttl_s) {
            (PolicyKind::Lru, None) => Ok(PolicyConfig::Lru),
            (PolicyKind::Gdsf, None) => Ok(PolicyConfig::Gdsf),
            (PolicyKind::Ttl, Some(ttl_s)) => Ok(PolicyConfig::Ttl { ttl_s }),
            (PolicyKind::Ttl, None) => Err(D::Error::missing_field("ttl_s")),
            (kind, Some(_)) => {
                let kind = if matches!(kind, PolicyKind::Lru) {
                    "lru"
                } else {
                    "gdsf"
                };
                Err(D::Error::custom(format!(
                    "unknown field `ttl_s` for policy kind \"{kind}\" (only \"ttl\" takes it)"
                )))
            }
        }
    }
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
            PolicyConfig::Ttl { ttl_s } => {
                Box::new(Lru::new(Some(Micros::from_ms_f64(ttl_s * 1000.0))))
            }
            PolicyConfig::Gdsf => Box::new(super::gdsf::Gdsf::default()),
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<PolicyConfig, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn unknown_keys_in_lru_and_gdsf_policies_are_errors() {
        assert_eq!(parse(r#"{"kind": "lru"}"#), Ok(PolicyConfig::Lru));
        assert_eq!(parse(r#"{"kind": "gdsf"}"#), Ok(PolicyConfig::Gdsf));
        assert_eq!(
            parse(r#"{"kind": "ttl", "ttl_s": 5}"#),
            Ok(PolicyConfig::Ttl { ttl_s: 5.0 })
        );
        let e = parse(r#"{"kind": "lru", "budget": 5}"#).expect_err("lru extra");
        assert!(e.contains("unknown field `budget`"), "{e}");
        let e = parse(r#"{"kind": "gdsf", "ttl_s": 5}"#).expect_err("gdsf ttl");
        assert!(e.contains("only \"ttl\" takes it"), "{e}");
        let e = parse(r#"{"kind": "ttl"}"#).expect_err("no ttl");
        assert!(e.contains("missing field `ttl_s`"), "{e}");
        let e = parse(r#"["lru"]"#).expect_err("array");
        assert!(e.contains("invalid type: sequence"), "{e}");
        let e = parse(r#"{"kind": "lfu"}"#).expect_err("kind");
        assert!(e.contains("unknown variant `lfu`"), "{e}");
        // The written form is unchanged.
        let text = serde_json::to_string(&PolicyConfig::Ttl { ttl_s: 5.0 }).expect("json");
        assert_eq!(text, r#"{"kind":"ttl","ttl_s":5.0}"#);
    }
}
