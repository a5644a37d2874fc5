//! Greedy-Dual-Size-Frequency keep-alive (FaasCache, Fuerst & Sharma,
//! ASPLOS'21): priority = clock + frequency * cold_cost / size. The lowest
//! priority is evicted and the clock rises to its priority, so instances
//! that stay idle long age out relative to newly idle ones. The cost term
//! is a cold start's cost ([`GdsfCost::Cold`], the default) or, as
//! FaasCache computes it, a cold call's latency minus a warm call's
//! ([`GdsfCost::ColdMinusWarm`]).

use super::policy::{GdsfCost, IdleInfo, KeepAliveDecision, KeepAlivePolicy};
use crate::units::{FunctionId, InstanceId};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Default)]
pub struct Gdsf {
    clock: f64,
    /// Invocations per function so far (FaasCache's frequency).
    freq: BTreeMap<FunctionId, u64>,
    /// Priorities are >= 0, so their IEEE bits order like the numbers.
    order: BTreeSet<(u64, InstanceId)>,
    prio: BTreeMap<InstanceId, u64>,
    cost: GdsfCost,
}

impl Gdsf {
    pub fn with_cost(cost: GdsfCost) -> Gdsf {
        Gdsf {
            cost,
            ..Gdsf::default()
        }
    }
}

impl KeepAlivePolicy for Gdsf {
    fn name(&self) -> &'static str {
        match self.cost {
            GdsfCost::Cold => "gdsf",
            GdsfCost::ColdMinusWarm => "gdsf_cold_minus_warm",
        }
    }

    fn on_invoke(&mut self, function: FunctionId) {
        *self.freq.entry(function).or_insert(0) += 1;
    }

    fn on_idle(&mut self, info: IdleInfo) {
        let freq = self.freq.get(&info.function).copied().unwrap_or(1) as f64;
        // Size in MB with a floor, so a zero-memory function is not infinitely valuable.
        let size = info.memory.as_mb_f64().max(1.0);
        let cost = match self.cost {
            GdsfCost::Cold => info.cold_cost,
            GdsfCost::ColdMinusWarm => info.cold_minus_warm,
        };
        let p = self.clock + freq * cost.as_ms_f64() / size;
        let bits = p.max(0.0).to_bits();
        self.order.insert((bits, info.instance));
        self.prio.insert(info.instance, bits);
    }

    fn on_leave(&mut self, instance: InstanceId) {
        if let Some(b) = self.prio.remove(&instance) {
            self.order.remove(&(b, instance));
        }
    }

    fn choose_victim(&mut self) -> KeepAliveDecision {
        match self.order.first() {
            Some(&(bits, id)) => {
                self.clock = f64::from_bits(bits);
                KeepAliveDecision::Evict(id)
            }
            None => KeepAliveDecision::NoVictim,
        }
    }
}
