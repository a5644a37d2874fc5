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
mod keepalive_from;
mod lru;
mod policy;

pub use fixed::Fixed;
pub use gdsf::Gdsf;
pub use hybrid::{Hybrid, HybridConfig};
pub use keepalive_from::KeepaliveFrom;
pub use policy::{
    GdsfCost, IdleInfo, KeepAliveDecision, KeepAlivePolicy, Lru, PolicyConfig, PolicyStats,
    ReleaseInfo, Retain,
};

use crate::pkgset::PackageSet;
use crate::units::{Bytes, FunctionId, InstanceId, Micros};
use idmap::IdMap;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InstanceState {
    Busy,
    Idle { since: Micros },
}

#[derive(Clone, Debug)]
pub struct Instance {
    pub id: InstanceId,
    pub function: FunctionId,
    pub memory: Bytes,
    pub state: InstanceState,
    /// When the call it serves (or served last) started.
    pub started: Micros,
    /// Packages this instance pinned in the install cache (released with it).
    pub pinned: PackageSet,
    /// When it first became idle (a fixed lifetime counts from there).
    pub first_idle: Option<Micros>,
}

/// What a cold start of a function costs, for the policies that rank by it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ColdCosts {
    /// A cold start's cost without Zygotes.
    pub cold: Micros,
    /// A cold call's latency minus a warm call's (FaasCache's GDSF cost).
    pub cold_minus_warm: Micros,
}

/// The full answer of [`HandlerCache::release_with`].
#[derive(Clone, Debug)]
pub struct Released {
    pub release: Release,
    /// Every instance removed (destroyed or evicted), to release pins.
    pub removed: Vec<Instance>,
    /// The policy wants a new instance of the function pre-warmed then.
    pub prewarm_at: Option<Micros>,
}

/// What happened to an instance that finished its invocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Release {
    /// True when it was paused and kept; false when it was destroyed.
    pub kept: bool,
    /// Idle instances evicted to make room, in eviction order.
    pub evicted: Vec<InstanceId>,
}

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
        let id = self.idle.get_mut(f.index())?.pop()?;
        self.policy.on_leave(id);
        let inst = self.instances.get_mut(&id)?;
        inst.state = InstanceState::Busy;
        inst.started = now;
        self.idle_bytes = self.idle_bytes - inst.memory;
        self.busy_bytes += inst.memory;
        Some(id)
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
mod tests {
    use super::*;

    fn cache(mb: u64, p: PolicyConfig) -> HandlerCache {
        HandlerCache::new(Bytes::from_mb(mb), p.build())
    }

    #[test]
    fn reuse_pause_and_lru_eviction() {
        let mut c = cache(100, PolicyConfig::Lru);
        let a = c.start(
            FunctionId(0),
            Bytes::from_mb(60),
            PackageSet::new(),
            Micros::ZERO,
        );
        let b = c.start(
            FunctionId(1),
            Bytes::from_mb(60),
            PackageSet::new(),
            Micros::ZERO,
        );
        assert_eq!(c.busy_bytes(), Bytes::from_mb(120));
        let (r, _) = c.release(a, Micros(10), Micros(0));
        assert!(r.kept && r.evicted.is_empty());
        let (r, gone) = c.release(b, Micros(20), Micros(0));
        assert_eq!(
            r,
            Release {
                kept: true,
                evicted: vec![a]
            }
        );
        assert_eq!(gone.len(), 1);
        assert_eq!(c.take_idle(FunctionId(0), Micros::ZERO), None);
        assert_eq!(c.take_idle(FunctionId(1), Micros::ZERO), Some(b));
        assert_eq!(c.idle_bytes(), Bytes::ZERO);
    }

    #[test]
    fn too_big_or_disabled_is_destroyed() {
        let mut c = cache(10, PolicyConfig::Lru);
        let a = c.start(
            FunctionId(0),
            Bytes::from_mb(60),
            PackageSet::new(),
            Micros::ZERO,
        );
        assert!(!c.release(a, Micros(1), Micros(0)).0.kept);
        let mut c = cache(0, PolicyConfig::Lru);
        let a = c.start(
            FunctionId(0),
            Bytes::from_mb(1),
            PackageSet::new(),
            Micros::ZERO,
        );
        assert!(!c.release(a, Micros(1), Micros(0)).0.kept);
        assert_eq!(c.live_instances(), 0);
    }

    #[test]
    fn ttl_expires_idle_only() {
        let mut c = cache(1000, PolicyConfig::Ttl { ttl_s: 1.0 });
        let a = c.start(
            FunctionId(0),
            Bytes::from_mb(1),
            PackageSet::new(),
            Micros::ZERO,
        );
        let b = c.start(
            FunctionId(1),
            Bytes::from_mb(1),
            PackageSet::new(),
            Micros::ZERO,
        );
        c.release(a, Micros(0), Micros(0));
        assert!(c.expire(Micros(999_999)).is_empty());
        let gone = c.expire(Micros(1_000_000));
        assert_eq!(gone.iter().map(|i| i.id).collect::<Vec<_>>(), vec![a]);
        assert!(c.instance(b).is_some(), "busy instance must survive");
    }

    #[test]
    fn gdsf_keeps_expensive_frequent_functions() {
        let mut c = cache(100, PolicyConfig::Gdsf);
        for _ in 0..5 {
            c.note_invocation(FunctionId(0));
        }
        c.note_invocation(FunctionId(1));
        let a = c.start(
            FunctionId(0),
            Bytes::from_mb(50),
            PackageSet::new(),
            Micros::ZERO,
        );
        let b = c.start(
            FunctionId(1),
            Bytes::from_mb(50),
            PackageSet::new(),
            Micros::ZERO,
        );
        let d = c.start(
            FunctionId(2),
            Bytes::from_mb(50),
            PackageSet::new(),
            Micros::ZERO,
        );
        c.release(a, Micros(0), Micros(100_000));
        c.release(b, Micros(1), Micros(100_000));
        let (r, _) = c.release(d, Micros(2), Micros(100_000));
        assert_eq!(r.evicted, vec![b], "the rarely used function goes first");
    }
}
