//! Property tests of the planner and its three tiers, driven through the
//! public API the way a simulator drives them: before an invocation starts
//! at time `t` (its arrival, or later when it queued), every in-flight
//! instance whose end time is `<= t` completes (in end-time order), then
//! `tick(t)`, then `invoke(inv, t)`.
//!
//! A shadow model tracks what the caller can know from the decisions alone
//! (which instances are busy or idle, which Zygotes pin which packages, how
//! many evictions happened) and every step is checked against it and against
//! the tier invariants of `../shared/STYLE.md` ("Tests"): budgets are never
//! exceeded, a handler is never forked from a Zygote holding a package it
//! did not ask for, parents outlive children, busy instances are never
//! evicted, replays are deterministic, and install-cache pins are exactly
//! those of live instances and Zygotes. Victims are also checked against
//! the documented eviction orders (LRU/TTL handlers, hits-per-byte Zygote
//! leaves) and evictions must stop as soon as the newcomer fits.
//!
//! Case counts keep `cargo test --release -p sock-core` around a second;
//! raise `cases` locally to hunt rare failures.

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;
use sock_core::config::{HandlerTier, InstallTier, TierConfig, ZygoteMode, ZygoteTier};
use sock_core::cost::{CostParams, Phases};
use sock_core::handler_cache::{InstanceState, PolicyConfig};
use sock_core::planner::{Action, Counters, Plan, Planner, SideDecision, TierUsage};
use sock_core::trace::{Catalog, Function, Invocation, Package, TraceHeader};
use sock_core::zygote::ZygoteNode;
use sock_core::{Bytes, FunctionId, InstanceId, Micros, PackageId, PackageSet, ZygoteId};
use std::collections::{BTreeMap, BTreeSet};

// ---------------------------------------------------------------------------
// Scenarios

#[derive(Clone, Debug)]
struct Scenario {
    header: TraceHeader,
    params: CostParams,
    config: TierConfig,
    invocations: Vec<Invocation>,
    /// When each invocation starts (arrival plus queueing); non-decreasing.
    starts: Vec<Micros>,
}

fn package(
    i: usize,
    deps: Vec<u32>,
    import_ms: f64,
    import_mb: f64,
    install_ms: f64,
    disk_bytes: u64,
) -> Package {
    Package {
        name: format!("p{i}"),
        version: "1.0".to_string(),
        deps,
        modules: vec![format!("p{i}")],
        import_ms,
        import_mb,
        install_ms,
        disk_bytes,
        imputed: false,
    }
}

fn function(i: usize, packages: Vec<u32>, duration_ms: f64, memory_mb: f64) -> Function {
    Function {
        name: format!("f{i}"),
        packages,
        duration_ms,
        cold_duration_ms: None,
        memory_mb,
    }
}

/// 1-40 packages whose dependencies only point to lower indices (a DAG),
/// and 1-20 functions each asking for a few of them. Zero costs and sizes
/// are drawn on purpose: they are legal in a trace and hit edge cases.
fn header_strategy() -> impl Strategy<Value = TraceHeader> {
    let pkg = (
        prop::collection::vec(any::<Index>(), 0..3),
        prop_oneof![1 => Just(0.0), 4 => 0.0..300.0f64],
        prop_oneof![1 => Just(0.0), 4 => 0.0..40.0f64],
        0.0..2000.0f64,
        prop_oneof![1 => Just(0u64), 4 => 0..(12u64 << 20)],
    );
    let func = (
        prop::collection::vec(any::<Index>(), 0..5),
        0.0..500.0f64,
        prop_oneof![1 => Just(0.0), 4 => 1.0..300.0f64],
    );
    (
        prop::collection::vec(pkg, 1..=40),
        prop::collection::vec(func, 1..=20),
    )
        .prop_map(|(pkgs, funcs)| {
            let n = pkgs.len();
            let packages = pkgs
                .into_iter()
                .enumerate()
                .map(|(i, (deps, import_ms, import_mb, install_ms, disk))| {
                    let mut deps: Vec<u32> = if i == 0 {
                        Vec::new()
                    } else {
                        deps.iter().map(|d| d.index(i) as u32).collect()
                    };
                    deps.sort_unstable();
                    deps.dedup();
                    package(i, deps, import_ms, import_mb, install_ms, disk)
                })
                .collect();
            let functions = funcs
                .into_iter()
                .enumerate()
                .map(|(i, (pk, duration_ms, memory_mb))| {
                    let mut pk: Vec<u32> = pk.iter().map(|p| p.index(n) as u32).collect();
                    pk.sort_unstable();
                    pk.dedup();
                    function(i, pk, duration_ms, memory_mb)
                })
                .collect();
            TraceHeader::new(packages, functions, serde_json::Value::Null)
        })
}

fn policy_strategy() -> impl Strategy<Value = PolicyConfig> {
    prop_oneof![
        Just(PolicyConfig::Lru),
        prop_oneof![Just(0.0), 0.0..5.0f64].prop_map(|ttl_s| PolicyConfig::Ttl { ttl_s }),
        Just(PolicyConfig::Gdsf),
    ]
}

/// Small budgets so that every tier is under pressure; every zygote mode
/// except `Static` (which needs a tree file).
fn params_and_config(
    policy: BoxedStrategy<PolicyConfig>,
) -> impl Strategy<Value = (CostParams, TierConfig)> {
    let zygote_mode = prop_oneof![1 => Just(ZygoteMode::Off), 1 => Just(ZygoteMode::Root), 3 => Just(ZygoteMode::Dynamic)];
    (
        prop_oneof![Just(0.0), 0.0..20.0f64],
        prop_oneof![Just(0.0), 0.0..4.0f64],
        prop_oneof![Just(0.0), Just(2.0)],
        prop_oneof![1 => Just(0.0), 2 => 1.0..200.0f64, 2 => 200.0..800.0f64],
        policy,
        zygote_mode,
        0.0..250.0f64,
        prop_oneof![Just(0.0), 0.0..5.0f64],
        prop_oneof![1 => Just(0.0), 2 => 1.0..40.0f64, 2 => 40.0..300.0f64],
        0u32..3,
    )
        .prop_map(
            |(
                interpreter_mb,
                zygote_fork_mb,
                create_ms,
                handler_mb,
                policy,
                mode,
                zygote_extra_mb,
                gain_ms,
                install_mb,
                spares,
            )| {
                let params = CostParams {
                    interpreter_mb,
                    zygote_fork_mb,
                    container_create_ms: create_ms,
                    ..CostParams::default()
                };
                let config = TierConfig {
                    handler: HandlerTier {
                        budget_mb: handler_mb,
                        policy,
                        ..HandlerTier::default()
                    },
                    // Always room for the root and its spares, so the
                    // planner accepts the config.
                    zygote: ZygoteTier {
                        mode,
                        budget_mb: interpreter_mb
                            + zygote_fork_mb * spares as f64
                            + zygote_extra_mb,
                        min_gain_ms: gain_ms,
                        spares,
                    },
                    install: InstallTier {
                        budget_mb: install_mb,
                    },
                };
                (params, config)
            },
        )
}

/// Non-decreasing arrival times: bursts (gap 0), overlapping calls (gaps
/// shorter than handler durations) and quiet spells (longer than TTLs).
/// Some invocations wait in a queue before they start, as under a
/// concurrency limit; start times stay non-decreasing.
fn scenario_strategy(policy: BoxedStrategy<PolicyConfig>) -> impl Strategy<Value = Scenario> {
    (
        header_strategy(),
        params_and_config(policy),
        prop::collection::vec(
            (
                prop_oneof![2 => Just(0u64), 5 => 0..60_000u64, 1 => 0..6_000_000u64],
                any::<Index>(),
                prop_oneof![4 => Just(0u64), 1 => 0..200_000u64],
            ),
            1..150,
        ),
    )
        .prop_map(|(header, (params, config), raw)| {
            let nf = header.functions.len();
            let (mut t, mut start) = (0, 0);
            let (mut invocations, mut starts) = (Vec::new(), Vec::new());
            for (gap, f, wait) in raw {
                t += gap;
                start = (t + wait).max(start);
                invocations.push(Invocation {
                    time: Micros(t),
                    function: FunctionId(f.index(nf) as u32),
                    duration: None,
                });
                starts.push(Micros(start));
            }
            Scenario {
                header,
                params,
                config,
                invocations,
                starts,
            }
        })
}

// ---------------------------------------------------------------------------
// The shadow model and its checks

/// Everything the planner told the caller, in order: replaying the same
/// scenario must reproduce it exactly.
#[derive(Debug, PartialEq)]
enum Event {
    Complete {
        instance: InstanceId,
        at: Micros,
        side: Vec<SideDecision>,
    },
    Tick {
        at: Micros,
        side: Vec<SideDecision>,
    },
    Invoke(Plan),
}

#[derive(Debug, PartialEq)]
struct Transcript {
    events: Vec<Event>,
    counters: Counters,
    usage: TierUsage,
}

#[derive(Debug)]
struct LiveInstance {
    function: FunctionId,
    memory: Bytes,
    /// Packages it pinned in the install cache when it started.
    pinned: PackageSet,
    /// `Some((since, order))` while paused; `order` ranks pauses.
    idle: Option<(Micros, u64)>,
}

struct Model<'c> {
    catalog: &'c Catalog,
    mode: ZygoteMode,
    ttl: Option<Micros>,
    /// LRU or TTL: handler victims go in (idle since, id) order.
    lru_order: bool,
    instances: BTreeMap<InstanceId, LiveInstance>,
    /// In-flight instances by (end time, id): the completion order.
    in_flight: BTreeSet<(Micros, InstanceId)>,
    /// Packages each live Zygote pinned when it was created.
    zygote_pins: BTreeMap<ZygoteId, PackageSet>,
    /// Every instance id ever handed out is below this.
    next_instance: u64,
    /// Ready times of each Zygote's spares, as announced by `Refill`.
    spares: BTreeMap<ZygoteId, Vec<Micros>>,
    pause_order: u64,
    counters: Counters,
}

/// Tier state seen just before an `invoke`.
struct Before {
    nodes: BTreeMap<ZygoteId, ZygoteNode>,
    cached: PackageSet,
    pins: Vec<u32>,
}

fn cached_set(planner: &Planner<'_>, n: usize) -> PackageSet {
    (0..n as u32)
        .map(PackageId)
        .filter(|&p| planner.installs().contains(p))
        .collect()
}

fn is_disjoint(a: &PackageSet, b: &PackageSet) -> bool {
    a.difference(b) == *a
}

fn fail<T>(msg: String) -> Result<T, TestCaseError> {
    Err(TestCaseError::fail(msg))
}

impl<'c> Model<'c> {
    fn new(catalog: &'c Catalog, config: &TierConfig) -> Model<'c> {
        let ttl = match config.handler.policy {
            PolicyConfig::Ttl { ttl_s } => Some(Micros::from_ms_f64(ttl_s * 1000.0)),
            _ => None,
        };
        Model {
            catalog,
            mode: config.zygote.mode,
            ttl,
            lru_order: !matches!(config.handler.policy, PolicyConfig::Gdsf),
            instances: BTreeMap::new(),
            in_flight: BTreeSet::new(),
            zygote_pins: BTreeMap::new(),
            next_instance: 0,
            spares: BTreeMap::new(),
            pause_order: 0,
            counters: Counters::default(),
        }
    }

    fn expected_pins(&self) -> Vec<u32> {
        let mut pins = vec![0u32; self.catalog.package_count()];
        let held = self
            .instances
            .values()
            .map(|i| &i.pinned)
            .chain(self.zygote_pins.values());
        for set in held {
            for p in set.iter() {
                pins[p.index()] += 1;
            }
        }
        pins
    }

    fn before(&self, planner: &Planner<'_>) -> Before {
        Before {
            nodes: planner
                .tree()
                .map(|t| t.nodes().map(|n| (n.id, n.clone())).collect())
                .unwrap_or_default(),
            cached: cached_set(planner, self.catalog.package_count()),
            pins: self.expected_pins(),
        }
    }

    /// Invariants that hold between any two planner calls.
    fn check_state(&self, planner: &Planner<'_>) -> Result<(), TestCaseError> {
        let u = planner.usage();
        // Property 1: budgets are never exceeded.
        prop_assert!(
            u.handler_idle <= planner.handlers().budget(),
            "handler idle {:?} over budget",
            u.handler_idle
        );
        prop_assert!(
            u.install <= planner.installs().budget(),
            "install {:?} over budget",
            u.install
        );
        match planner.tree() {
            Some(t) => {
                prop_assert!(
                    u.zygote <= t.budget(),
                    "zygote {:?} over budget {:?}",
                    u.zygote,
                    t.budget()
                );
                prop_assert_eq!(u.zygote, t.used());
            }
            None => prop_assert_eq!(u.zygote, Bytes::ZERO),
        }

        // Handler accounting matches the decisions the caller saw.
        let (mut busy, mut idle) = (Bytes::ZERO, Bytes::ZERO);
        for (&id, inst) in &self.instances {
            let Some(real) = planner.handlers().instance(id) else {
                return fail(format!("live instance {id} unknown to the handler cache"));
            };
            prop_assert_eq!(real.function, inst.function);
            prop_assert_eq!(&real.pinned, &inst.pinned, "pins of instance {}", id);
            match inst.idle {
                Some((since, _)) => {
                    idle += inst.memory;
                    prop_assert_eq!(&real.state, &InstanceState::Idle { since });
                }
                None => {
                    busy += inst.memory;
                    prop_assert_eq!(&real.state, &InstanceState::Busy);
                }
            }
        }
        prop_assert_eq!(planner.handlers().live_instances(), self.instances.len());
        prop_assert_eq!(u.handler_busy, busy);
        prop_assert_eq!(u.handler_idle, idle);

        if let Some(t) = planner.tree() {
            check_tree(planner)?;
            let live: BTreeSet<ZygoteId> = t
                .nodes()
                .map(|n| n.id)
                .filter(|&z| z != ZygoteId(0))
                .collect();
            prop_assert_eq!(
                live,
                self.zygote_pins.keys().copied().collect::<BTreeSet<_>>()
            );
            if self.mode == ZygoteMode::Root {
                prop_assert_eq!(t.len(), 1);
            }
        }

        // Property 6 (continuous form): every pin belongs to a live instance
        // or a live Zygote, and pinned packages stay installed.
        for (i, want) in self.expected_pins().into_iter().enumerate() {
            let p = PackageId(i as u32);
            prop_assert_eq!(
                planner.installs().pins(p),
                want,
                "pin count of package {}",
                i
            );
            if want > 0 {
                prop_assert!(
                    planner.installs().contains(p),
                    "pinned package {} not installed",
                    i
                );
            }
        }
        prop_assert_eq!(planner.counters(), self.counters);
        Ok(())
    }

    fn on_complete(
        &mut self,
        planner: &Planner<'_>,
        id: InstanceId,
        at: Micros,
        side: &[SideDecision],
    ) -> Result<(), TestCaseError> {
        let Some((last, evictions)) = side.split_last() else {
            return fail(format!("complete({id}) returned no decision"));
        };
        let budget = planner.handlers().budget();
        let memory = self.instances.get(&id).map_or(Bytes::ZERO, |i| i.memory);
        let mut idle_bytes: Bytes = self
            .instances
            .values()
            .filter(|i| i.idle.is_some())
            .map(|i| i.memory)
            .sum();
        for d in evictions {
            let SideDecision::EvictHandler { instance } = d else {
                return fail(format!(
                    "complete({id}): unexpected {d:?} before the pause/destroy decision"
                ));
            };
            // Property 4: only idle instances are evicted.
            match self.instances.get(instance) {
                Some(i) if i.idle.is_some() => {}
                other => {
                    return fail(format!(
                        "complete({id}) evicted non-idle instance {instance}: {other:?}"
                    ))
                }
            }
            // Evict only while the finished instance does not fit...
            prop_assert!(
                idle_bytes + memory > budget,
                "evicted {} although {} already fit",
                instance,
                id
            );
            // ...and, for LRU and TTL, the longest idle first.
            if self.lru_order {
                let oldest = self
                    .instances
                    .iter()
                    .filter_map(|(&i, x)| x.idle.map(|(since, _)| (since, i)))
                    .min();
                prop_assert_eq!(oldest.map(|(_, i)| i), Some(*instance), "LRU victim");
            }
            idle_bytes = idle_bytes
                - self
                    .instances
                    .get(instance)
                    .map_or(Bytes::ZERO, |i| i.memory);
            self.instances.remove(instance);
            self.counters.handler_evictions += 1;
        }
        let Some(inst) = self.instances.get_mut(&id) else {
            return fail(format!("completed instance {id} is not live"));
        };
        match last {
            SideDecision::Pause { instance } if *instance == id => {
                prop_assert!(
                    budget > Bytes::ZERO && inst.memory <= budget,
                    "paused an instance that cannot fit"
                );
                inst.idle = Some((at, self.pause_order));
                self.pause_order += 1;
            }
            SideDecision::Destroy { instance } if *instance == id => {
                prop_assert!(
                    budget == Bytes::ZERO || inst.memory > budget,
                    "destroyed an instance that fits"
                );
                prop_assert!(
                    evictions.is_empty(),
                    "evicted idle instances, then destroyed {} anyway",
                    id
                );
                self.instances.remove(&id);
            }
            other => return fail(format!("complete({id}) ended with {other:?}")),
        }
        Ok(())
    }

    fn on_tick(&mut self, at: Micros, side: &[SideDecision]) -> Result<(), TestCaseError> {
        for d in side {
            let SideDecision::ExpireHandler { instance } = d else {
                return fail(format!("tick returned {d:?}"));
            };
            let Some(ttl) = self.ttl else {
                return fail(format!("expiry without a TTL policy: {d:?}"));
            };
            match self.instances.get(instance).and_then(|i| i.idle) {
                Some((since, _)) => {
                    prop_assert!(since + ttl <= at, "instance {} expired early", instance)
                }
                None => return fail(format!("tick expired busy or dead instance {instance}")),
            }
            self.instances.remove(instance);
            self.counters.handler_expirations += 1;
        }
        if let Some(ttl) = self.ttl {
            for (id, i) in &self.instances {
                if let Some((since, _)) = i.idle {
                    prop_assert!(since + ttl > at, "instance {} outlived its TTL", id);
                }
            }
        }
        Ok(())
    }

    fn on_invoke(
        &mut self,
        planner: &Planner<'_>,
        inv: Invocation,
        now: Micros,
        plan: &Plan,
        before: &Before,
    ) -> Result<(), TestCaseError> {
        let f = inv.function;
        let need = self.catalog.closure(f);
        let cost = planner.cost();
        let handler = Micros::from_ms_f64(self.catalog.function(f).duration_ms);
        prop_assert_eq!(plan.function, f);
        // The handler cache reuses the most recently paused instance of f.
        let reusable = self
            .instances
            .iter()
            .filter(|(_, i)| i.function == f)
            .filter_map(|(&id, i)| i.idle.map(|(_, order)| (order, id)))
            .max()
            .map(|(_, id)| id);

        let (import, install) = match &plan.action {
            Action::HandlerHit { instance } => {
                // Property 4: a hit resumes an idle instance of this function.
                prop_assert_eq!(
                    Some(*instance),
                    reusable,
                    "handler hit on the wrong instance"
                );
                prop_assert_eq!(plan.instance, *instance);
                prop_assert!(all_side(plan).is_empty());
                let want = Phases {
                    queue: now - inv.time,
                    unpause: cost.unpause(),
                    handler,
                    transport: cost.transport(),
                    ..Phases::default()
                };
                prop_assert_eq!(plan.phases, want);
                let end = now + plan.phases.total();
                if let Some(i) = self.instances.get_mut(instance) {
                    i.idle = None;
                }
                self.in_flight.insert((end, *instance));
                return Ok(());
            }
            Action::Fork {
                zygote,
                depth,
                spare,
                import,
                install,
            } => {
                prop_assert!(
                    reusable.is_none(),
                    "cold start although instance {:?} was idle",
                    reusable
                );
                prop_assert!(self.mode != ZygoteMode::Off, "fork with Zygotes off");
                let Some(node) = before.nodes.get(zygote) else {
                    return fail(format!("fork from Zygote {zygote}, which was not live"));
                };
                // Property 7: only ready Zygotes serve forks.
                prop_assert!(
                    node.ready_at <= now,
                    "Zygote {} forked before ready ({:?} > {:?})",
                    zygote,
                    node.ready_at,
                    now
                );
                // Property 2: never a superset Zygote; imports fill the gap exactly.
                prop_assert!(
                    node.packages.is_subset(need),
                    "Zygote {} holds {:?}, function needs {:?}",
                    zygote,
                    node.packages,
                    need
                );
                prop_assert_eq!(&import.union(&node.packages), need);
                prop_assert!(is_disjoint(import, &node.packages));
                prop_assert_eq!(*depth, node.depth);
                // Best-cost match by the documented rule: most import time
                // saved, then deepest, then lowest id.
                let best = before
                    .nodes
                    .values()
                    .filter(|n| n.ready_at <= now && n.packages.is_subset(need))
                    .max_by_key(|n| (n.import_cost, n.depth, std::cmp::Reverse(n.id)))
                    .map(|n| n.id);
                prop_assert_eq!(best, Some(*zygote));
                if self.mode == ZygoteMode::Root {
                    prop_assert_eq!(*zygote, ZygoteId(0));
                }
                let mut mem = Bytes::ZERO;
                let mut cur = Some(*zygote);
                while let Some(n) = cur.and_then(|c| before.nodes.get(&c)) {
                    mem += n.memory - n.spare_memory;
                    cur = n.parent;
                }
                // Pre-forked children: a spare is used exactly when one
                // announced by a Refill is ready, and is then replaced.
                let ready = self
                    .spares
                    .get(zygote)
                    .and_then(|q| q.iter().position(|&t| t <= now));
                prop_assert_eq!(
                    *spare,
                    ready.is_some(),
                    "spare use disagrees with the spares ready"
                );
                if let Some(i) = ready {
                    self.spares.get_mut(zygote).map(|q| q.remove(i));
                    prop_assert_eq!(plan.phases.fork, cost.spare_hit());
                    prop_assert!(
                        all_side(plan).iter().any(
                            |d| matches!(d, SideDecision::Refill { zygote: z, .. } if z == zygote)
                        ),
                        "a used spare is not replaced"
                    );
                } else {
                    prop_assert_eq!(plan.phases.fork, cost.fork(mem));
                }
                prop_assert_eq!(plan.phases.create, cost.container_create(need.len()));
                (import, install)
            }
            Action::Fresh { import, install } => {
                prop_assert!(
                    reusable.is_none(),
                    "cold start although instance {:?} was idle",
                    reusable
                );
                prop_assert_eq!(
                    self.mode,
                    ZygoteMode::Off,
                    "fresh start although the root Zygote is always usable"
                );
                prop_assert_eq!(import, need);
                prop_assert_eq!(plan.phases.fork, Micros::ZERO);
                prop_assert_eq!(
                    plan.phases.create,
                    cost.container_create(need.len()) + cost.python_start()
                );
                (import, install)
            }
        };

        // Cold start: a new instance, installs exactly the uncached imports.
        let id = plan.instance;
        prop_assert!(id.0 >= self.next_instance, "instance id {} reused", id);
        self.next_instance = id.0 + 1;
        prop_assert_eq!(install, &import.difference(&before.cached), "installed set");
        if planner.installs().budget() == Bytes::ZERO {
            prop_assert_eq!(
                install,
                import,
                "install cache off, yet packages were found cached"
            );
        }
        prop_assert_eq!(plan.phases.queue, now - inv.time);
        prop_assert_eq!(plan.phases.unpause, Micros::ZERO);
        prop_assert_eq!(plan.phases.import, cost.import_time(import));
        prop_assert_eq!(plan.phases.install, cost.install_time(install));
        prop_assert_eq!(plan.phases.handler, handler);
        let cached_after = cached_set(planner, self.catalog.package_count());
        let uncached = install.difference(&cached_after);
        self.counters.install_misses += install.len() as u64;
        self.counters.install_hits += (import.len() - install.len()) as u64;
        self.counters.install_uncached += uncached.len() as u64;

        let fork_zygote = match plan.action {
            Action::Fork { zygote, .. } => Some(zygote),
            _ => None,
        };
        let mut ancestors = BTreeSet::new();
        let mut cur = fork_zygote;
        while let Some(z) = cur {
            ancestors.insert(z);
            cur = before.nodes.get(&z).and_then(|n| n.parent);
        }
        let tree = planner.tree();
        let mut evicted_zygotes: Vec<ZygoteId> = Vec::new();
        let mut created = false;
        for d in &all_side(plan) {
            match d {
                SideDecision::EvictPackage { package } => {
                    prop_assert!(
                        !created && evicted_zygotes.is_empty(),
                        "package eviction out of order"
                    );
                    prop_assert!(
                        before.cached.contains(*package),
                        "evicted package {} was not installed",
                        package
                    );
                    prop_assert_eq!(
                        before.pins[package.index()],
                        0,
                        "evicted pinned package {}",
                        package
                    );
                    prop_assert!(
                        !import.contains(*package),
                        "evicted package {} that this start imports",
                        package
                    );
                    prop_assert!(!planner.installs().contains(*package));
                    self.counters.package_evictions += 1;
                }
                SideDecision::EvictZygote { zygote } => {
                    // Property 3: root never evicted, nor the fork source or
                    // its ancestors, nor a node whose children live on.
                    prop_assert_eq!(self.mode, ZygoteMode::Dynamic);
                    prop_assert!(!created, "Zygote eviction after creation");
                    prop_assert!(*zygote != ZygoteId(0), "root evicted");
                    prop_assert!(
                        !ancestors.contains(zygote),
                        "evicted Zygote {} the fork uses",
                        zygote
                    );
                    let Some(node) = before.nodes.get(zygote) else {
                        return fail(format!("evicted Zygote {zygote}, which was not live"));
                    };
                    for c in &node.children {
                        prop_assert!(
                            evicted_zygotes.contains(c),
                            "Zygote {} evicted before its child {}",
                            zygote,
                            c
                        );
                    }
                    prop_assert!(
                        tree.and_then(|t| t.node(*zygote)).is_none(),
                        "evicted Zygote {} still in the tree",
                        zygote
                    );
                    evicted_zygotes.push(*zygote);
                    self.zygote_pins.remove(zygote);
                    self.spares.remove(zygote);
                    self.counters.zygote_evictions += 1;
                }
                SideDecision::CreateZygote {
                    zygote,
                    parent,
                    import: adds,
                    ready_at,
                } => {
                    prop_assert_eq!(self.mode, ZygoteMode::Dynamic);
                    prop_assert!(!created, "two Zygotes created for one start");
                    prop_assert_eq!(
                        Some(*parent),
                        fork_zygote,
                        "new Zygote is not a child of the fork source"
                    );
                    prop_assert_eq!(adds, import);
                    prop_assert!(
                        !before.nodes.contains_key(zygote),
                        "Zygote id {} reused",
                        zygote
                    );
                    prop_assert!(*ready_at >= now);
                    prop_assert!(
                        cost.import_time(adds)
                            >= Micros::from_ms_f64(planner.config().zygote.min_gain_ms),
                        "Zygote saves less than min_gain_ms"
                    );
                    let Some(node) = tree.and_then(|t| t.node(*zygote)) else {
                        return fail(format!("created Zygote {zygote} is not in the tree"));
                    };
                    prop_assert_eq!(node.parent, Some(*parent));
                    prop_assert_eq!(&node.packages, need);
                    prop_assert_eq!(&node.own, adds);
                    prop_assert_eq!(node.ready_at, *ready_at);
                    let pinned: PackageSet =
                        adds.iter().filter(|p| cached_after.contains(*p)).collect();
                    self.zygote_pins.insert(*zygote, pinned);
                    self.counters.zygotes_created += 1;
                    created = true;
                }
                SideDecision::Refill { zygote, ready_at } => {
                    prop_assert!(*ready_at >= now, "spare ready before it was asked for");
                    prop_assert!(
                        tree.and_then(|t| t.node(*zygote)).is_some(),
                        "refill of Zygote {} which is not live",
                        zygote
                    );
                    self.spares.entry(*zygote).or_default().push(*ready_at);
                }
                other => return fail(format!("invoke returned {other:?}")),
            }
        }

        if !evicted_zygotes.is_empty() {
            prop_assert!(created, "Zygotes evicted for a growth that did not happen");
            let grown = all_side(plan).iter().find_map(|d| match d {
                SideDecision::CreateZygote { zygote, .. } => tree.and_then(|t| t.node(*zygote)),
                _ => None,
            });
            let Some(grown) = grown else {
                return fail("created Zygote vanished".to_string());
            };
            let budget = tree.map_or(Bytes::ZERO, |t| t.budget());
            check_zygote_victims(before, &ancestors, &evicted_zygotes, grown.memory, budget)?;
        }

        let memory = Bytes::from_mb_f64(self.catalog.function(f).memory_mb);
        let pinned: PackageSet = need.iter().filter(|p| cached_after.contains(*p)).collect();
        self.instances.insert(
            id,
            LiveInstance {
                function: f,
                memory,
                pinned,
                idle: None,
            },
        );
        self.in_flight.insert((now + plan.phases.total(), id));
        Ok(())
    }
}

/// Zygote victims follow the documented order: each is, when it goes, the
/// unpinned leaf (children already gone) outside the fork source's lineage
/// with the fewest hits per byte, the newer node on ties; and eviction
/// stops as soon as the new node fits.
fn check_zygote_victims(
    before: &Before,
    protected: &BTreeSet<ZygoteId>,
    victims: &[ZygoteId],
    need: Bytes,
    budget: Bytes,
) -> Result<(), TestCaseError> {
    // Lower is evicted first: hits/bytes compared exactly, then newer first.
    let value = |a: &ZygoteNode, b: &ZygoteNode| {
        let va = a.hits as u128 * b.memory.0.max(1) as u128;
        let vb = b.hits as u128 * a.memory.0.max(1) as u128;
        va.cmp(&vb).then(b.id.cmp(&a.id))
    };
    let mut used: Bytes = before.nodes.values().map(|n| n.memory).sum();
    let mut gone = BTreeSet::new();
    for v in victims {
        prop_assert!(
            used + need > budget,
            "evicted Zygote {} although the new node already fit",
            v
        );
        let expected = before
            .nodes
            .values()
            .filter(|n| !n.pinned && !protected.contains(&n.id) && !gone.contains(&n.id))
            .filter(|n| n.children.iter().all(|c| gone.contains(c)))
            .min_by(|a, b| value(a, b))
            .map(|n| n.id);
        prop_assert_eq!(expected, Some(*v), "Zygote eviction order");
        gone.insert(*v);
        used = used - before.nodes.get(v).map_or(Bytes::ZERO, |n| n.memory);
    }
    prop_assert!(used + need <= budget);
    Ok(())
}

/// Property 3 and the tree's structure: every live node's parent is live
/// and lists it; children strictly extend their parent's set; the root is
/// the bare interpreter; memory adds up; no two nodes hold the same set.
fn check_tree(planner: &Planner<'_>) -> Result<(), TestCaseError> {
    let Some(t) = planner.tree() else {
        return Ok(());
    };
    let Some(root) = t.node(ZygoteId(0)) else {
        return fail("root Zygote evicted".to_string());
    };
    prop_assert!(
        root.parent.is_none() && root.packages.is_empty() && root.pinned && root.depth == 0
    );
    let mut sets = BTreeSet::new();
    let mut memory = Bytes::ZERO;
    for n in t.nodes() {
        memory += n.memory;
        prop_assert!(
            sets.insert(n.packages.clone()),
            "two Zygotes hold {:?}",
            n.packages
        );
        prop_assert_eq!(n.import_cost, planner.cost().import_time(&n.packages));
        for c in &n.children {
            prop_assert_eq!(
                t.node(*c).and_then(|c| c.parent),
                Some(n.id),
                "child {} of {} is gone or disowns it",
                c,
                n.id
            );
        }
        let Some(pid) = n.parent else {
            prop_assert_eq!(n.id, ZygoteId(0), "a second parentless node");
            continue;
        };
        let Some(p) = t.node(pid) else {
            return fail(format!("Zygote {} outlived its parent {pid}", n.id));
        };
        prop_assert!(
            p.children.contains(&n.id),
            "parent {} does not list child {}",
            pid,
            n.id
        );
        prop_assert!(p.packages.is_subset(&n.packages) && p.packages != n.packages);
        prop_assert_eq!(&n.own, &n.packages.difference(&p.packages));
        prop_assert_eq!(n.depth, p.depth + 1);
        prop_assert!(!n.pinned, "dynamic Zygote pinned");
    }
    prop_assert_eq!(memory, t.used());
    Ok(())
}

// ---------------------------------------------------------------------------
// The driver

/// Replays `s` like a simulator, checking every step. At the end all
/// instances finish and a TTL policy gets a tick far in the future, after
/// which only live Zygotes may hold pins (property 6).
fn run(s: &Scenario) -> Result<Transcript, TestCaseError> {
    let catalog = match Catalog::new(s.header.clone()) {
        Ok(c) => c,
        Err(e) => return fail(format!("generated catalog rejected: {e}")),
    };
    let mut planner = match Planner::new(&catalog, s.params.clone(), s.config.clone(), None) {
        Ok(p) => p,
        Err(e) => return fail(format!("planner rejected a valid config: {e}")),
    };
    let mut model = Model::new(&catalog, &s.config);
    for d in planner.take_startup() {
        let SideDecision::Refill { zygote, ready_at } = d else {
            return fail(format!("start-up decision {d:?}"));
        };
        model.spares.entry(zygote).or_default().push(ready_at);
    }
    prop_assert!(
        planner.take_startup().is_empty(),
        "start-up decisions handed out twice"
    );
    let mut events = Vec::new();
    model.check_state(&planner)?;

    let complete_until = |limit: Option<Micros>,
                          planner: &mut Planner<'_>,
                          model: &mut Model<'_>,
                          events: &mut Vec<Event>| {
        while let Some(&(end, id)) = model.in_flight.first() {
            if limit.is_some_and(|t| end > t) {
                break;
            }
            model.in_flight.remove(&(end, id));
            let side = planner.complete(id, end);
            model.on_complete(planner, id, end, &side)?;
            model.check_state(planner)?;
            events.push(Event::Complete {
                instance: id,
                at: end,
                side,
            });
        }
        Ok::<(), TestCaseError>(())
    };

    for (&inv, &t) in s.invocations.iter().zip(&s.starts) {
        complete_until(Some(t), &mut planner, &mut model, &mut events)?;
        let side = planner.tick(t);
        model.on_tick(t, &side)?;
        model.check_state(&planner)?;
        events.push(Event::Tick { at: t, side });

        let before = model.before(&planner);
        let plan = planner.invoke(inv, t);
        model.on_invoke(&planner, inv, t, &plan, &before)?;
        model.check_state(&planner)?;
        events.push(Event::Invoke(plan));
    }

    complete_until(None, &mut planner, &mut model, &mut events)?;
    prop_assert_eq!(planner.usage().handler_busy, Bytes::ZERO);
    if let Some(ttl) = model.ttl {
        let last = events
            .iter()
            .filter_map(|e| match e {
                Event::Complete { at, .. } | Event::Tick { at, .. } => Some(*at),
                Event::Invoke(_) => None,
            })
            .max()
            .unwrap_or_default();
        let far = last + ttl + Micros(1);
        let side = planner.tick(far);
        model.on_tick(far, &side)?;
        model.check_state(&planner)?;
        events.push(Event::Tick { at: far, side });
        prop_assert_eq!(planner.handlers().live_instances(), 0);
        // Property 6: with no instance left, pins come from Zygotes only.
        for p in 0..catalog.package_count() {
            let p = PackageId(p as u32);
            let from_zygotes = planner.tree().map_or(0, |t| {
                t.nodes().filter(|n| n.own.contains(p)).count() as u32
            });
            prop_assert!(
                planner.installs().pins(p) <= from_zygotes,
                "package {} pinned by no live Zygote",
                p
            );
            if s.config.zygote.mode != ZygoteMode::Dynamic {
                prop_assert_eq!(planner.installs().pins(p), 0);
            }
        }
    }
    Ok(Transcript {
        events,
        counters: planner.counters(),
        usage: planner.usage(),
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Properties 1-4, 6 and 7 after every step, plus property 5: a second
    /// replay of the same inputs yields the identical transcript.
    #[test]
    fn planner_invariants_and_determinism(s in scenario_strategy(policy_strategy().boxed())) {
        let first = run(&s)?;
        let second = run(&s)?;
        prop_assert_eq!(first, second);
    }

    /// Install-cache churn: with the handler tier off every instance drops
    /// its pins when it finishes, so packages get evicted and reinstalled.
    #[test]
    fn install_cache_churn(s in scenario_strategy(policy_strategy().boxed()).prop_map(|mut s| {
        s.config.handler.budget_mb = 0.0;
        s
    })) {
        run(&s)?;
    }

    /// Property 6 with the TTL policy forced, so that every instance is
    /// gone at the end and only Zygote pins may remain.
    #[test]
    fn pins_drain_with_ttl(s in scenario_strategy((0.0..3.0f64).prop_map(|ttl_s| PolicyConfig::Ttl { ttl_s }).boxed())) {
        run(&s)?;
    }
}

// ---------------------------------------------------------------------------
// Targeted scenarios

/// `(import_ms, import_mb, disk_mb)` per package, no dependencies.
fn tiny_catalog(pkgs: &[(f64, f64, u64)], funcs: &[&[u32]]) -> Catalog {
    let packages = pkgs
        .iter()
        .enumerate()
        .map(|(i, &(ms, mb, disk))| package(i, Vec::new(), ms, mb, 100.0, disk << 20))
        .collect();
    let functions = funcs
        .iter()
        .enumerate()
        .map(|(i, p)| function(i, p.to_vec(), 10.0, 50.0))
        .collect();
    Catalog::new(TraceHeader::new(
        packages,
        functions,
        serde_json::Value::Null,
    ))
    .expect("valid catalog")
}

fn config(handler_mb: f64, mode: ZygoteMode, zygote_mb: f64, install_mb: f64) -> TierConfig {
    TierConfig {
        handler: HandlerTier {
            budget_mb: handler_mb,
            policy: PolicyConfig::Lru,
            ..HandlerTier::default()
        },
        zygote: ZygoteTier {
            mode,
            budget_mb: zygote_mb,
            min_gain_ms: 0.0,
            spares: 0,
        },
        install: InstallTier {
            budget_mb: install_mb,
        },
    }
}

fn inv(t: u64, f: u32) -> Invocation {
    Invocation {
        time: Micros(t),
        function: FunctionId(f),
        duration: None,
    }
}

fn created(plan: &Plan) -> Option<(ZygoteId, Micros)> {
    all_side(plan).iter().find_map(|d| match d {
        SideDecision::CreateZygote {
            zygote, ready_at, ..
        } => Some((*zygote, *ready_at)),
        _ => None,
    })
}

/// A burst of cold starts of one function before its new Zygote is ready
/// must fork from the parent and must not grow a second identical Zygote
/// (each copy would cost memory and evict useful nodes).
#[test]
fn burst_before_zygote_ready_forks_parent_and_grows_once() {
    let catalog = tiny_catalog(&[(100.0, 20.0, 1)], &[&[0]]);
    let mut planner = Planner::new(
        &catalog,
        CostParams::default(),
        config(0.0, ZygoteMode::Dynamic, 500.0, 100.0),
        None,
    )
    .expect("planner");
    let first = planner.invoke(inv(0, 0), Micros(0));
    let (z, ready) = created(&first).expect("the first cold start grows a Zygote");
    assert!(ready > Micros(1));
    for t in [1, ready.0 - 1] {
        let p = planner.invoke(inv(t, 0), Micros(t));
        assert!(
            matches!(
                p.action,
                Action::Fork {
                    zygote: ZygoteId(0),
                    ..
                }
            ),
            "not ready yet: {:?}",
            p.action
        );
        assert_eq!(created(&p), None, "a second Zygote for the same packages");
    }
    let p = planner.invoke(inv(ready.0, 0), ready);
    assert_eq!(
        p.action,
        Action::Fork {
            zygote: z,
            depth: 1,
            spare: false,
            import: PackageSet::new(),
            install: PackageSet::new()
        }
    );
    assert_eq!(planner.tree().map(|t| t.len()), Some(2));
}

/// With the install tier off, even a zero-byte package is installed anew on
/// every cold start (the tier's documented meaning of a zero budget).
#[test]
fn install_budget_zero_caches_nothing() {
    let catalog = tiny_catalog(&[(1.0, 1.0, 0), (1.0, 1.0, 3)], &[&[0, 1]]);
    let mut planner = Planner::new(
        &catalog,
        CostParams::default(),
        config(0.0, ZygoteMode::Off, 0.0, 0.0),
        None,
    )
    .expect("planner");
    for t in 0..3 {
        let p = planner.invoke(inv(t, 0), Micros(t));
        let Action::Fresh { install, .. } = &p.action else {
            panic!("{:?}", p.action)
        };
        assert_eq!(install.len(), 2, "call {t}: {install:?}");
        planner.complete(p.instance, Micros(t));
    }
    assert_eq!(planner.installs().len(), 0);
    assert_eq!(planner.usage().install, Bytes::ZERO);
}

/// Package evictions are counted like every other eviction.
#[test]
fn package_evictions_are_counted() {
    // Each package alone fills the 5 MB install cache.
    let catalog = tiny_catalog(&[(1.0, 1.0, 4), (1.0, 1.0, 4)], &[&[0], &[1]]);
    let mut planner = Planner::new(
        &catalog,
        CostParams::default(),
        config(0.0, ZygoteMode::Off, 0.0, 5.0),
        None,
    )
    .expect("planner");
    let a = planner.invoke(inv(0, 0), Micros(0));
    planner.complete(a.instance, Micros(1));
    let b = planner.invoke(inv(2, 1), Micros(2));
    assert_eq!(
        all_side(&b),
        vec![SideDecision::EvictPackage {
            package: PackageId(0)
        }]
    );
    assert_eq!(planner.counters().package_evictions, 1);
}

/// A busy instance pins its packages: a start that needs the space gets its
/// package uncached rather than evicting them.
#[test]
fn busy_instance_pins_survive_install_pressure() {
    let catalog = tiny_catalog(&[(1.0, 1.0, 4), (1.0, 1.0, 4)], &[&[0], &[1]]);
    let mut planner = Planner::new(
        &catalog,
        CostParams::default(),
        config(0.0, ZygoteMode::Off, 0.0, 5.0),
        None,
    )
    .expect("planner");
    let a = planner.invoke(inv(0, 0), Micros(0));
    let b = planner.invoke(inv(1, 1), Micros(1));
    assert!(
        all_side(&b).is_empty(),
        "evicted a pinned package: {:?}",
        all_side(&b)
    );
    assert!(planner.installs().contains(PackageId(0)));
    assert!(!planner.installs().contains(PackageId(1)));
    assert_eq!(planner.counters().install_uncached, 1);
    assert_eq!(planner.installs().pins(PackageId(0)), 1);
    planner.complete(a.instance, Micros(100_000));
    planner.complete(b.instance, Micros(100_000));
    assert_eq!(planner.installs().pins(PackageId(0)), 0);
}

/// Under Zygote pressure the leaf goes before its parent, and the parent
/// the new Zygote grows from is protected even when it is the cheapest.
#[test]
fn zygote_eviction_takes_leaves_and_spares_the_fork_source() {
    // f0 = {0}, f1 = {0, 1}, f2 = {2}. Each node: 2 MB fork + 20 MB import.
    let catalog = tiny_catalog(
        &[(50.0, 20.0, 1), (50.0, 20.0, 1), (50.0, 20.0, 1)],
        &[&[0], &[0, 1], &[2]],
    );
    // Root 10 MB + two 22 MB nodes fit in 60 MB; a third does not.
    let mut planner = Planner::new(
        &catalog,
        CostParams::default(),
        config(0.0, ZygoteMode::Dynamic, 60.0, 100.0),
        None,
    )
    .expect("planner");
    let p0 = planner.invoke(inv(0, 0), Micros(0));
    let (z0, ready) = created(&p0).expect("grows {0}");
    let t = ready.0;
    let p1 = planner.invoke(inv(t, 1), Micros(t));
    assert!(matches!(p1.action, Action::Fork { zygote, .. } if zygote == z0));
    let (z1, ready1) = created(&p1).expect("grows {0,1} under {0}");
    assert_eq!(
        planner
            .tree()
            .and_then(|tr| tr.node(z1))
            .and_then(|n| n.parent),
        Some(z0)
    );
    // z0 has a child, so only the leaf z1 may go to make room for {2}.
    let t = ready1.0;
    let p2 = planner.invoke(inv(t, 2), Micros(t));
    assert!(
        all_side(&p2).contains(&SideDecision::EvictZygote { zygote: z1 }),
        "{:?}",
        all_side(&p2)
    );
    assert!(!all_side(&p2).contains(&SideDecision::EvictZygote { zygote: z0 }));
    let tree = planner.tree().expect("tree");
    assert!(tree.node(z0).is_some_and(|n| n.children.is_empty()));
    assert!(tree.used() <= tree.budget());
}

/// A plan's side decisions, `before` then `after`.
fn all_side(plan: &Plan) -> Vec<SideDecision> {
    plan.side().cloned().collect()
}
