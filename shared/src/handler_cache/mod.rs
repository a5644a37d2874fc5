//! Tier 1, the handler cache: idle handler instances kept paused (cgroup
//! freezer) and resumed on the next call of the same function.
//!
//! An instance serves one invocation at a time, so concurrent calls of a
//! function need several instances. The memory budget bounds *idle*
//! (paused) instances; busy ones are accounted separately as active memory
//! and are never eviction candidates. When a busy instance finishes it is
//! paused if it fits (evicting idle instances the policy picks), otherwise
//! destroyed.

mod deadlines;
mod fixed;
mod gdsf;
mod hybrid;
mod idmap;
mod instance;
mod keepalive_from;
mod lru;
mod policy;

pub use fixed::Fixed;
pub use gdsf::Gdsf;
pub use hybrid::{Hybrid, HybridConfig};
pub use instance::{ColdCosts, Instance, InstanceState, Release, Released};
pub use keepalive_from::KeepaliveFrom;
pub use policy::{
    GdsfCost, IdleInfo, KeepAliveDecision, KeepAlivePolicy, Lru, PolicyConfig, PolicyStats,
    ReleaseInfo, Retain,
};

use crate::pkgset::PackageSet;
use crate::units::{Bytes, FunctionId, InstanceId, Micros};
use idmap::IdMap;

#[derive(Debug)]
pub struct HandlerCache {
    budget: Bytes,
    policy: Box<dyn KeepAlivePolicy>,
    /// Live instances. Never iterated, so hashing cannot affect results.
    instances: IdMap<InstanceId, Instance>,
    /// Idle instances per function index, most recently idled last (reused first).
    idle: Vec<Vec<InstanceId>>,
    idle_bytes: Bytes,
    busy_bytes: Bytes,
    next_id: u64,
    keepalive_from: KeepaliveFrom,
}

impl HandlerCache {
    /// `budget` of zero disables the tier: every finished instance is destroyed.
    pub fn new(budget: Bytes, policy: Box<dyn KeepAlivePolicy>) -> HandlerCache {
        HandlerCache {
            budget,
            policy,
            instances: IdMap::default(),
            idle: Vec::new(),
            idle_bytes: Bytes::ZERO,
            busy_bytes: Bytes::ZERO,
            next_id: 0,
            keepalive_from: KeepaliveFrom::End,
        }
    }

    /// The same cache, starting keep-alive clocks as `from` says.
    pub fn with_keepalive_from(mut self, from: KeepaliveFrom) -> HandlerCache {
        self.keepalive_from = from;
        self
    }

    pub fn policy_name(&self) -> &'static str {
        self.policy.name()
    }

    pub fn budget(&self) -> Bytes {
        self.budget
    }

    pub fn idle_bytes(&self) -> Bytes {
        self.idle_bytes
    }

    pub fn busy_bytes(&self) -> Bytes {
        self.busy_bytes
    }

    pub fn instance(&self, id: InstanceId) -> Option<&Instance> {
        self.instances.get(&id)
    }

    pub fn live_instances(&self) -> usize {
        self.instances.len()
    }

    /// Tells the policy a function was invoked (before hit or miss).
    pub fn note_invocation(&mut self, f: FunctionId) {
        self.policy.on_invoke(f);
    }

    /// Tells the policy a call of `f` arrived at `at` (before hit or miss).
    pub fn note_arrival(&mut self, f: FunctionId, at: Micros) {
        self.policy.on_arrival(f, at);
    }

    /// What the policy counted (idle-time histograms).
    pub fn policy_stats(&self) -> PolicyStats {
        self.policy.stats()
    }

    /// Whether an idle instance of `memory` fits the budget without
    /// evicting anything (a pre-warm evicts nothing).
    pub fn fits_idle(&self, memory: Bytes) -> bool {
        self.budget > Bytes::ZERO && self.idle_bytes + memory <= self.budget
    }

    /// A pre-warmed instance of `f`, idle from `at`, when it fits the
    /// budget without evictions ([`HandlerCache::fits_idle`]).
    pub fn prewarm(
        &mut self,
        f: FunctionId,
        memory: Bytes,
        pinned: PackageSet,
        at: Micros,
        costs: ColdCosts,
    ) -> Option<InstanceId> {
        if !self.fits_idle(memory) {
            return None;
        }
        let id = InstanceId(self.next_id);
        self.next_id += 1;
        self.instances.insert(
            id,
            Instance {
                id,
                function: f,
                memory,
                state: InstanceState::Idle { since: at },
                started: at,
                pinned,
                first_idle: Some(at),
            },
        );
        self.push_idle(id, f, memory, at, at, costs);
        Some(id)
    }

    fn push_idle(
        &mut self,
        id: InstanceId,
        function: FunctionId,
        mem: Bytes,
        first_idle: Micros,
        now: Micros,
        costs: ColdCosts,
    ) {
        self.idle_bytes += mem;
        if self.idle.len() <= function.index() {
            self.idle.resize_with(function.index() + 1, Vec::new);
        }
        self.idle[function.index()].push(id);
        self.policy.on_idle(IdleInfo {
            instance: id,
            function,
            memory: mem,
            cold_cost: costs.cold,
            cold_minus_warm: costs.cold_minus_warm,
            first_idle,
            now,
        });
    }

    /// Resumes the most recently idled instance of `f` for a call that
    /// starts at `now`, if any.
    pub fn take_idle(&mut self, f: FunctionId, now: Micros) -> Option<InstanceId> {
        self.take_idle_since(f, now).map(|(id, _)| id)
    }

    /// [`HandlerCache::take_idle`], with when the instance became idle.
    pub fn take_idle_since(&mut self, f: FunctionId, now: Micros) -> Option<(InstanceId, Micros)> {
        let id = self.idle.get_mut(f.index())?.pop()?;
        self.policy.on_leave(id);
        let inst = self.instances.get_mut(&id)?;
        let since = match inst.state {
            InstanceState::Idle { since } => since,
            InstanceState::Busy => now,
        };
        inst.state = InstanceState::Busy;
        inst.started = now;
        self.idle_bytes = self.idle_bytes - inst.memory;
        self.busy_bytes += inst.memory;
        Some((id, since))
    }

    /// Whether `f` has an idle instance to resume.
    pub fn has_idle(&self, f: FunctionId) -> bool {
        self.idle.get(f.index()).is_some_and(|v| !v.is_empty())
    }

    /// Evicts the idle instance the policy picks (to make room in the
    /// worker's memory); `None` when none is idle.
    pub fn evict_one(&mut self) -> Option<Instance> {
        match self.policy.choose_victim() {
            KeepAliveDecision::Evict(victim) => self.remove_idle(victim),
            KeepAliveDecision::NoVictim => None,
        }
    }

    /// Registers a new busy instance of `f`, for a call that starts at `now`.
    pub fn start(
        &mut self,
        f: FunctionId,
        memory: Bytes,
        pinned: PackageSet,
        now: Micros,
    ) -> InstanceId {
        let id = InstanceId(self.next_id);
        self.next_id += 1;
        let inst = Instance {
            id,
            function: f,
            memory,
            state: InstanceState::Busy,
            started: now,
            pinned,
            first_idle: None,
        };
        self.instances.insert(id, inst);
        self.busy_bytes += memory;
        id
    }

    /// A busy instance finished at `now`: pause it if it fits, evicting as
    /// the policy decides; otherwise destroy it. Its keep-alive clock starts
    /// at `now` or at its call's start ([`KeepaliveFrom`]). Returns the
    /// decision and every instance removed (destroyed or evicted), so the
    /// caller can release their install-cache pins.
    pub fn release(
        &mut self,
        id: InstanceId,
        now: Micros,
        cold_cost: Micros,
    ) -> (Release, Vec<Instance>) {
        let costs = ColdCosts {
            cold: cold_cost,
            cold_minus_warm: cold_cost,
        };
        let r = self.release_with(id, now, costs);
        (r.release, r.removed)
    }

    /// [`HandlerCache::release`], with both cost terms and the policy's
    /// pre-warm request ([`Retain::Prewarm`]: the instance is destroyed).
    pub fn release_with(&mut self, id: InstanceId, now: Micros, costs: ColdCosts) -> Released {
        let gone = |release: Release, removed: Vec<Instance>, prewarm_at| Released {
            release,
            removed,
            prewarm_at,
        };
        let destroyed = |evicted| Release {
            kept: false,
            evicted,
        };
        let Some(inst) = self.instances.get(&id) else {
            return gone(destroyed(Vec::new()), Vec::new(), None);
        };
        let (mem, function, first_idle) = (inst.memory, inst.function, inst.first_idle);
        let now = self.keepalive_from.idle_since(inst.started, now);
        self.busy_bytes = self.busy_bytes - mem;
        let retain = self.policy.on_release(ReleaseInfo {
            function,
            first_idle,
            now,
        });
        let mut removed = Vec::new();
        let prewarm_at = match retain {
            Retain::Prewarm { at } => Some(at),
            _ => None,
        };
        if retain != Retain::Keep || mem > self.budget || self.budget == Bytes::ZERO {
            removed.extend(self.instances.remove(&id));
            return gone(destroyed(Vec::new()), removed, prewarm_at);
        }
        let mut evicted = Vec::new();
        while self.idle_bytes + mem > self.budget {
            match self.policy.choose_victim() {
                KeepAliveDecision::Evict(victim) => {
                    removed.extend(self.remove_idle(victim));
                    evicted.push(victim);
                }
                // Unreachable while idle_bytes + mem > budget >= mem, since
                // then some idle instance exists; stop rather than spin.
                KeepAliveDecision::NoVictim => break,
            }
        }
        if self.idle_bytes + mem > self.budget {
            removed.extend(self.instances.remove(&id));
            return gone(destroyed(evicted), removed, None);
        }
        let first_idle = first_idle.unwrap_or(now);
        if let Some(inst) = self.instances.get_mut(&id) {
            inst.state = InstanceState::Idle { since: now };
            inst.first_idle = Some(first_idle);
        }
        self.push_idle(id, function, mem, first_idle, now, costs);
        gone(
            Release {
                kept: true,
                evicted,
            },
            removed,
            None,
        )
    }

    /// A busy instance is gone without finishing (it died, or its start
    /// failed): forget it. Returns it, so the caller can release its pins;
    /// `None` for an unknown or idle instance.
    pub fn lose(&mut self, id: InstanceId) -> Option<Instance> {
        if !matches!(self.instances.get(&id)?.state, InstanceState::Busy) {
            return None;
        }
        let inst = self.instances.remove(&id)?;
        self.busy_bytes = self.busy_bytes - inst.memory;
        Some(inst)
    }

    /// Removes idle instances whose keep-alive expired at `now`.
    pub fn expire(&mut self, now: Micros) -> Vec<Instance> {
        let ids = self.policy.expired(now);
        if ids.is_empty() {
            return Vec::new(); // the usual case, without the iterator chain
        }
        ids.into_iter()
            .filter_map(|id| self.remove_idle(id))
            .collect()
    }

    fn remove_idle(&mut self, id: InstanceId) -> Option<Instance> {
        self.policy.on_leave(id);
        let inst = self.instances.remove(&id)?;
        debug_assert!(
            matches!(inst.state, InstanceState::Idle { .. }),
            "busy instance evicted"
        );
        self.idle_bytes = self.idle_bytes - inst.memory;
        if let Some(v) = self.idle.get_mut(inst.function.index()) {
            v.retain(|&x| x != id);
        }
        Some(inst)
    }
}

#[cfg(test)]
mod tests;
