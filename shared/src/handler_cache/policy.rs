//! Keep-alive (eviction) policies for the handler cache. A policy only
//! ranks idle instances and answers with decisions; the cache applies them.
//!
//! Kinds (the configuration-file form in brackets, defaults in
//! [`PolicyConfig`]): LRU (`lru`), an idle timeout reset on every reuse
//! (`ttl`, AWS-style), a fixed lifetime after first idle that reuse does
//! not extend (`fixed`, dslab-faas's "keepalive"), Greedy-Dual-Size-
//! Frequency (`gdsf`, FaasCache, with its cost term selectable), and the
//! Hybrid Histogram policy with pre-warming (`hybrid`, "Serverless in the
//! Wild", see [`super::hybrid`]).

pub use super::lru::Lru;
use crate::units::{Bytes, FunctionId, InstanceId, Micros};
use serde::{Deserialize, Serialize};
use std::fmt::Debug;

/// What a policy knows about an instance that just became idle.
#[derive(Clone, Copy, Debug)]
pub struct IdleInfo {
    pub instance: InstanceId,
    pub function: FunctionId,
    pub memory: Bytes,
    /// Latency a cold start of this function would cost (for GDSF).
    pub cold_cost: Micros,
    /// A cold call's latency minus a warm call's (FaasCache's GDSF cost).
    pub cold_minus_warm: Micros,
    /// When this instance first became idle (now, unless it was reused).
    pub first_idle: Micros,
    pub now: Micros,
}

/// An instance whose call just ended, before the cache keeps it.
#[derive(Clone, Copy, Debug)]
pub struct ReleaseInfo {
    pub function: FunctionId,
    /// When it first became idle; `None` on its first release.
    pub first_idle: Option<Micros>,
    /// Its idle clock's start (the call's end, or start: `KeepaliveFrom`).
    pub now: Micros,
}

/// A policy's answer for an instance whose call just ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retain {
    /// Pause it and keep it (if it fits the budget).
    Keep,
    /// Destroy it (its lifetime is over).
    Destroy,
    /// Destroy it now, and pre-warm a new instance of its function at `at`.
    Prewarm { at: Micros },
}

/// A keep-alive policy's answer when the cache must shed memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeepAliveDecision {
    Evict(InstanceId),
    /// Nothing is evictable (every instance is busy).
    NoVictim,
}

/// What a policy counted over a run (the Hybrid Histogram's idle times).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PolicyStats {
    /// Idle times recorded in a histogram.
    pub idle_times: u64,
    /// Idle times beyond the histogram's range (the paper's ARIMA cases).
    pub out_of_bounds: u64,
    /// Windows computed from a representative histogram, and fallbacks to
    /// the fixed keep-alive.
    pub from_histogram: u64,
    pub fallbacks: u64,
}

/// An eviction policy over idle (paused) handler instances. Busy instances
/// are never shown to the policy, so they can never be chosen.
pub trait KeepAlivePolicy: Debug + Send {
    fn name(&self) -> &'static str;
    /// A function was invoked (hit or miss).
    fn on_invoke(&mut self, _function: FunctionId) {}
    /// A call of `function` arrived at `at` (before hit or miss).
    fn on_arrival(&mut self, _function: FunctionId, _at: Micros) {}
    /// A call ended: keep its instance, destroy it, or pre-warm later.
    fn on_release(&mut self, _info: ReleaseInfo) -> Retain {
        Retain::Keep
    }
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
    fn stats(&self) -> PolicyStats {
        PolicyStats::default()
    }
}

/// GDSF's cost term.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GdsfCost {
    /// A cold start's cost without Zygotes: container, interpreter,
    /// imports (this crate's default).
    #[default]
    Cold,
    /// FaasCache's: a cold call's latency minus a warm call's
    /// (`run_time - warm_time`), the time a warm start saves.
    ColdMinusWarm,
}

/// Which policy to build; the configuration-file form:
/// `{"kind": "lru"}`, `{"kind": "ttl", "ttl_s": 600}`, `{"kind": "gdsf"}`,
/// `{"kind": "gdsf", "cost": "cold_minus_warm"}`,
/// `{"kind": "fixed", "lifetime_s": 600}`, `{"kind": "hybrid", ...}`
/// (keys and defaults in [`super::HybridConfig`]).
/// Read through [`RawPolicy`], so that a key the kind does not take is an
/// error for every kind (serde ignores extra keys in the unit variants of
/// an internally tagged enum, issue 12).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PolicyConfig {
    /// Least recently used, no expiry.
    Lru,
    /// Idle timeout (AWS-style): idle instances die after `ttl_s` seconds
    /// idle, reset on every reuse; under memory pressure the least
    /// recently used goes first.
    Ttl { ttl_s: f64 },
    /// Greedy-Dual-Size-Frequency (FaasCache, ASPLOS'21), cost `cold`.
    Gdsf,
    /// GDSF with its cost term chosen (`cold` reads as [`PolicyConfig::Gdsf`]).
    #[serde(rename = "gdsf")]
    GdsfCost { cost: GdsfCost },
    /// Fixed lifetime (dslab-faas's "keepalive"): an instance dies
    /// `lifetime_s` after it first became idle, reuse does not extend it
    /// (busy then, it is destroyed when its call ends).
    Fixed { lifetime_s: f64 },
    /// Hybrid Histogram with pre-warming ("Serverless in the Wild").
    Hybrid(super::HybridConfig),
}

#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum PolicyKind {
    Lru,
    Ttl,
    Gdsf,
    Fixed,
    Hybrid,
}

impl PolicyKind {
    fn as_str(self) -> &'static str {
        match self {
            PolicyKind::Lru => "lru",
            PolicyKind::Ttl => "ttl",
            PolicyKind::Gdsf => "gdsf",
            PolicyKind::Fixed => "fixed",
            PolicyKind::Hybrid => "hybrid",
        }
    }
}

/// The file form of a [`PolicyConfig`], every key known.
#[derive(Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
struct RawPolicy {
    kind: PolicyKind,
    ttl_s: Option<f64>,
    lifetime_s: Option<f64>,
    cost: Option<GdsfCost>,
    range_min: Option<u32>,
    prewarm_pct: Option<f64>,
    keepalive_pct: Option<f64>,
    margin_pct: Option<f64>,
    min_samples: Option<u64>,
    cv_min: Option<f64>,
    fallback_s: Option<f64>,
}
object_only!(RawPolicy, "tiers.handler.policy");

impl RawPolicy {
    /// The keys present, each with the kind that takes it.
    fn present(&self) -> Vec<(&'static str, &'static str)> {
        let h = "hybrid";
        [
            ("ttl_s", "ttl", self.ttl_s.is_some()),
            ("lifetime_s", "fixed", self.lifetime_s.is_some()),
            ("cost", "gdsf", self.cost.is_some()),
            ("range_min", h, self.range_min.is_some()),
            ("prewarm_pct", h, self.prewarm_pct.is_some()),
            ("keepalive_pct", h, self.keepalive_pct.is_some()),
            ("margin_pct", h, self.margin_pct.is_some()),
            ("min_samples", h, self.min_samples.is_some()),
            ("cv_min", h, self.cv_min.is_some()),
            ("fallback_s", h, self.fallback_s.is_some()),
        ]
        .into_iter()
        .filter(|k| k.2)
        .map(|(key, owner, _)| (key, owner))
        .collect()
    }
}

impl<'de> Deserialize<'de> for PolicyConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let raw = <RawPolicy as Deserialize>::deserialize(d)?;
        let kind = raw.kind.as_str();
        if let Some((key, owner)) = raw.present().into_iter().find(|k| k.1 != kind) {
            return Err(D::Error::custom(format!(
                "unknown field `{key}` for policy kind \"{kind}\" (only \"{owner}\" takes it)"
            )));
        }
        Ok(match raw.kind {
            PolicyKind::Lru => PolicyConfig::Lru,
            PolicyKind::Gdsf => match raw.cost.unwrap_or_default() {
                GdsfCost::Cold => PolicyConfig::Gdsf,
                cost => PolicyConfig::GdsfCost { cost },
            },
            PolicyKind::Ttl => PolicyConfig::Ttl {
                ttl_s: raw.ttl_s.ok_or_else(|| D::Error::missing_field("ttl_s"))?,
            },
            PolicyKind::Fixed => PolicyConfig::Fixed {
                lifetime_s: raw
                    .lifetime_s
                    .ok_or_else(|| D::Error::missing_field("lifetime_s"))?,
            },
            PolicyKind::Hybrid => {
                let d = super::HybridConfig::default();
                PolicyConfig::Hybrid(super::HybridConfig {
                    range_min: raw.range_min.unwrap_or(d.range_min),
                    prewarm_pct: raw.prewarm_pct.unwrap_or(d.prewarm_pct),
                    keepalive_pct: raw.keepalive_pct.unwrap_or(d.keepalive_pct),
                    margin_pct: raw.margin_pct.unwrap_or(d.margin_pct),
                    min_samples: raw.min_samples.unwrap_or(d.min_samples),
                    cv_min: raw.cv_min.unwrap_or(d.cv_min),
                    fallback_s: raw.fallback_s.unwrap_or(d.fallback_s),
                })
            }
        })
    }
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig::Ttl { ttl_s: 600.0 }
    }
}

impl PolicyConfig {
    pub fn build(&self) -> Box<dyn KeepAlivePolicy> {
        let secs = |s: f64| Micros::from_ms_f64(s * 1000.0);
        match self {
            PolicyConfig::Lru => Box::new(Lru::new(None)),
            PolicyConfig::Ttl { ttl_s } => Box::new(Lru::new(Some(secs(*ttl_s)))),
            PolicyConfig::Gdsf => Box::new(super::gdsf::Gdsf::default()),
            PolicyConfig::GdsfCost { cost } => Box::new(super::gdsf::Gdsf::with_cost(*cost)),
            PolicyConfig::Fixed { lifetime_s } => {
                Box::new(super::fixed::Fixed::new(secs(*lifetime_s)))
            }
            PolicyConfig::Hybrid(c) => Box::new(super::hybrid::Hybrid::new(c.clone())),
        }
    }

    /// Its numbers with their names and upper bounds, for range checks.
    pub fn numbers(&self) -> Vec<(&'static str, f64, f64)> {
        let max_s = crate::units::MAX_MS / 1000.0;
        match self {
            PolicyConfig::Ttl { ttl_s } => vec![("handler.policy.ttl_s", *ttl_s, max_s)],
            PolicyConfig::Fixed { lifetime_s } => {
                vec![("handler.policy.lifetime_s", *lifetime_s, max_s)]
            }
            PolicyConfig::Hybrid(c) => c.numbers(),
            _ => Vec::new(),
        }
    }

    /// A short name for reports: `ttl 600 s`, `gdsf (cold minus warm)`.
    pub fn describe(&self) -> String {
        match self {
            PolicyConfig::Lru => "lru".to_string(),
            PolicyConfig::Ttl { ttl_s } => format!("ttl {ttl_s} s"),
            PolicyConfig::Gdsf => "gdsf".to_string(),
            PolicyConfig::GdsfCost { cost } => match cost {
                GdsfCost::Cold => "gdsf".to_string(),
                GdsfCost::ColdMinusWarm => "gdsf (cold minus warm)".to_string(),
            },
            PolicyConfig::Fixed { lifetime_s } => format!("fixed lifetime {lifetime_s} s"),
            PolicyConfig::Hybrid(c) => c.describe(),
        }
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
