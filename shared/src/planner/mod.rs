//! The provisioning planner: an invocation plus the state of the three
//! tiers in, a [`Plan`] out. Every decision sim and sock-exec apply is made
//! here, so the two cannot disagree about what to do.

use crate::config::{TierConfig, ZygoteMode};
use crate::cost::{CostError, CostModel, CostParams, Phases};
use crate::handler_cache::HandlerCache;
use crate::install_cache::InstallCache;
use crate::noise::{Class, Noise};
use crate::pkgset::PackageSet;
use crate::trace::{Catalog, Invocation};
use crate::units::{Bytes, FunctionId, InstanceId, Micros, ZygoteId};
use crate::zygote::{Spares, StaticTreeError, StaticTreeNode, StaticTreeWarning, ZygoteTree};
use std::collections::BTreeMap;

mod failure;
mod plan;
mod prewarm;
mod room;

pub use plan::{Action, Failure, Plan, SideDecision};
pub use room::Admission;

/// Memory and disk held by each tier right now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TierUsage {
    pub handler_idle: Bytes,
    pub handler_busy: Bytes,
    pub zygote: Bytes,
    pub install: Bytes,
}

/// Running totals of cache events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub install_hits: u64,
    pub install_misses: u64,
    pub install_uncached: u64,
    pub handler_evictions: u64,
    pub handler_expirations: u64,
    pub zygote_evictions: u64,
    pub zygotes_created: u64,
    pub package_evictions: u64,
    /// Plans that failed when applied and were replaced by a fallback
    /// ([`Planner::on_failure`]); of those, lost paused handlers, and
    /// Zygotes repaired.
    pub fallbacks: u64,
    pub handlers_lost: u64,
    pub zygote_repairs: u64,
    /// Spares found dead while they waited ([`Planner::on_spare_lost`]).
    pub spares_lost: u64,
    /// Zygotes the tree would have grown but the worker had no free memory
    /// for ([`Planner::admit`]'s module).
    pub zygote_growth_skipped: u64,
    /// Pre-warmed instances made, skipped (no free worker memory or
    /// handler budget), and cancelled (a call came first).
    pub prewarms: u64,
    pub prewarms_skipped: u64,
    pub prewarms_cancelled: u64,
    /// What the keep-alive policy counted (Hybrid Histogram idle times).
    pub policy: crate::handler_cache::PolicyStats,
}

#[derive(Debug, thiserror::Error)]
pub enum PlannerError {
    // Not `#[from]`/`#[source]`: the message already holds the inner one,
    // and a source would print it twice in an error chain (issue 12).
    #[error("cost model: {0}")]
    Cost(CostError),
    #[error("static Zygote tree: {0}")]
    StaticTree(StaticTreeError),
    #[error("zygote mode `static` needs a tree file")]
    MissingStaticTree,
    #[error(
        "the Zygote budget ({budget_mb} MB) cannot hold even the root interpreter and its spares ({root_mb} MB)"
    )]
    RootTooBig { budget_mb: f64, root_mb: f64 },
    #[error("tier config {field} is {}; it must be a finite number in [0, {max:e}]", crate::units::show(*value))]
    BadNumber {
        field: &'static str,
        value: f64,
        max: f64,
    },
}

impl From<CostError> for PlannerError {
    fn from(e: CostError) -> Self {
        PlannerError::Cost(e)
    }
}

impl From<StaticTreeError> for PlannerError {
    fn from(e: StaticTreeError) -> Self {
        PlannerError::StaticTree(e)
    }
}

#[derive(Debug)]
pub struct Planner<'c> {
    catalog: &'c Catalog,
    cost: CostModel,
    config: TierConfig,
    handlers: HandlerCache,
    tree: Option<ZygoteTree>,
    installs: InstallCache,
    zygote_pins: BTreeMap<ZygoteId, PackageSet>,
    spares: Spares,
    /// Side decisions for the Zygotes that exist from the start (their
    /// spares), handed out once by [`Planner::take_startup`].
    startup: Vec<SideDecision>,
    /// Per function: a cold start's cost without Zygotes (GDSF's cost).
    cold_costs: Vec<Micros>,
    /// Per function: a cold call's latency minus a warm one's (FaasCache).
    cold_minus_warm: Vec<Micros>,
    /// Pre-warms the keep-alive policy asked for, not yet due.
    prewarms: prewarm::Pending,
    counters: Counters,
    /// What the static tree file asked for that the trace cannot give.
    tree_warnings: Vec<StaticTreeWarning>,
    /// The worker's memory for every sandbox (`None`: unbounded); see
    /// [`Planner::admit`].
    worker_memory: Option<Bytes>,
    /// Sampled phase noise, when the calibration carries it
    /// ([`crate::noise`]); it changes latencies, never a decision made at
    /// this call (later ones see the latencies through the engine's time).
    noise: Option<Noise>,
}

impl<'c> Planner<'c> {
    pub fn new(
        catalog: &'c Catalog,
        params: CostParams,
        config: TierConfig,
        static_tree: Option<&StaticTreeNode>,
    ) -> Result<Planner<'c>, PlannerError> {
        check_config(&config)?;
        let cost = CostModel::new(params, catalog)?;
        let mut tree = match config.zygote.mode {
            ZygoteMode::Off => None,
            _ => Some(
                ZygoteTree::with_root(
                    Bytes::from_mb_f64(config.zygote.budget_mb),
                    &cost,
                    config.zygote.spares,
                )
                .ok_or(PlannerError::RootTooBig {
                    budget_mb: config.zygote.budget_mb,
                    root_mb: cost.params.interpreter_mb
                        + cost.params.zygote_fork_mb * config.zygote.spares as f64,
                })?,
            ),
        };
        let mut installs = InstallCache::new(Bytes::from_mb_f64(config.install.budget_mb));
        let mut zygote_pins = BTreeMap::new();
        let mut tree_warnings = Vec::new();
        if config.zygote.mode == ZygoteMode::Static {
            let st = static_tree.ok_or(PlannerError::MissingStaticTree)?;
            if let Some(t) = tree.as_mut() {
                tree_warnings = t.load_static(st, catalog, &cost)?;
                // Static Zygotes hold their packages installed from the start.
                for n in t.nodes() {
                    installs.ensure(&n.own, Micros::ZERO, catalog);
                    zygote_pins.insert(n.id, installs.pin(&n.own));
                }
            }
        }
        let handlers = HandlerCache::new(
            Bytes::from_mb_f64(config.handler.budget_mb),
            config.handler.policy.build(),
        )
        .with_keepalive_from(config.handler.keepalive_from);
        let cold_costs = (0..catalog.function_count())
            .map(|f| {
                let closure = catalog.closure(FunctionId(f as u32));
                cost.container_create(closure.len())
                    + cost.python_start()
                    + cost.import_time(closure)
            })
            .collect::<Vec<Micros>>();
        let cold_minus_warm = (0..catalog.function_count())
            .map(|f| {
                let (warm, cold) = catalog.handler_times(FunctionId(f as u32));
                let cold_call = cold_costs[f] + cold + cost.transport();
                let warm_call = cost.unpause() + warm + cost.transport();
                Micros(cold_call.0.saturating_sub(warm_call.0))
            })
            .collect();
        let noise = Noise::new(&cost.params.noise);
        let mut planner = Planner {
            catalog,
            noise,
            cost,
            handlers,
            tree,
            installs,
            zygote_pins,
            tree_warnings,
            spares: Spares::new(config.zygote.spares),
            startup: Vec::new(),
            config,
            cold_costs,
            cold_minus_warm,
            prewarms: prewarm::Pending::new(catalog.function_count()),
            counters: Counters::default(),
            worker_memory: None,
        };
        let initial: Vec<(ZygoteId, Micros)> = planner
            .tree
            .as_ref()
            .map(|t| t.nodes().map(|n| (n.id, n.ready_at)).collect())
            .unwrap_or_default();
        let mut startup = Vec::new();
        for (z, ready_at) in initial {
            startup.extend(planner.start_spares(z, ready_at));
        }
        planner.startup = startup;
        Ok(planner)
    }

    /// The spares of the Zygotes that exist from the start (the root, or a
    /// whole static tree), as `Refill` decisions; empty after the first call.
    pub fn take_startup(&mut self) -> Vec<SideDecision> {
        std::mem::take(&mut self.startup)
    }

    /// Spares of a Zygote that serves from `ready_at`, as decisions.
    fn start_spares(&mut self, z: ZygoteId, ready_at: Micros) -> Vec<SideDecision> {
        let (_, mem) = self.lineage(z);
        let fork = self.cost.fork(mem);
        self.spares
            .add_zygote(z, ready_at, fork)
            .into_iter()
            .map(|ready_at| SideDecision::Refill {
                zygote: z,
                ready_at,
            })
            .collect()
    }

    /// Spares of each Zygote (ready or being forked), for tests and reports.
    pub fn spares(&self) -> &Spares {
        &self.spares
    }

    /// Packages of the static tree file the trace lacks, and nodes merged
    /// into their parents (see [`crate::zygote::StaticTreeWarning`]); the
    /// caller reports them once.
    pub fn tree_warnings(&self) -> &[StaticTreeWarning] {
        &self.tree_warnings
    }

    pub fn catalog(&self) -> &'c Catalog {
        self.catalog
    }

    pub fn cost(&self) -> &CostModel {
        &self.cost
    }

    pub fn config(&self) -> &TierConfig {
        &self.config
    }

    pub fn tree(&self) -> Option<&ZygoteTree> {
        self.tree.as_ref()
    }

    pub fn handlers(&self) -> &HandlerCache {
        &self.handlers
    }

    pub fn installs(&self) -> &InstallCache {
        &self.installs
    }

    pub fn counters(&self) -> Counters {
        Counters {
            policy: self.handlers.policy_stats(),
            ..self.counters
        }
    }

    /// How long a released instance stays running before it is paused
    /// (`tiers.handler.pause_grace_ms`; zero: paused at release).
    pub fn pause_grace(&self) -> Micros {
        Micros::from_ms_f64(self.config.handler.pause_grace_ms)
    }

    pub fn usage(&self) -> TierUsage {
        TierUsage {
            handler_idle: self.handlers.idle_bytes(),
            handler_busy: self.handlers.busy_bytes(),
            zygote: self.tree.as_ref().map_or(Bytes::ZERO, |t| t.used()),
            install: self.installs.used(),
        }
    }

    /// Plans `inv`, which starts at `now` (its arrival plus any queueing).
    pub fn invoke(&mut self, inv: Invocation, now: Micros) -> Plan {
        let f = inv.function;
        self.handlers.note_invocation(f);
        self.handlers.note_arrival(f, inv.time);
        self.cancel_prewarm(f);
        let handler = self.catalog.handler_time(&inv, false);
        let queue = now - inv.time;
        if let Some((instance, since)) = self.handlers.take_idle_since(f, now) {
            // Within the pause grace it was never paused (the executor
            // pauses it only once idle that long: `Planner::pause_grace`).
            let unpause = if now - since <= self.pause_grace() && self.pause_grace() > Micros::ZERO
            {
                Micros::ZERO
            } else {
                self.cost.unpause()
            };
            let mut phases = Phases {
                queue,
                unpause,
                handler,
                transport: self.cost.transport(),
                ..Phases::default()
            };
            if let Some(n) = self.noise.as_mut() {
                n.apply(Class::HandlerHit, &mut phases);
            }
            return Plan {
                function: f,
                instance,
                action: Action::HandlerHit { instance },
                phases,
                before: Vec::new(),
                after: Vec::new(),
            };
        }
        self.cold_start(f, now, queue, self.catalog.handler_time(&inv, true))
    }

    fn cold_start(&mut self, f: FunctionId, now: Micros, queue: Micros, handler: Micros) -> Plan {
        let catalog = self.catalog;
        let need = catalog.closure(f);
        let zygote = self.tree.as_ref().and_then(|t| t.lookup(need, now));
        let base = zygote
            .and_then(|z| self.tree.as_ref().and_then(|t| t.node(z)))
            .map(|n| n.packages.clone())
            .unwrap_or_default();
        let missing = need.difference(&base);
        let ensured = self.installs.ensure(&missing, now, self.catalog);
        self.count_install(&ensured.installed, &ensured.uncached, ensured.hits);
        self.counters.package_evictions += ensured.evicted.len() as u64;
        // Evictions make room for this plan's installs: before it.
        let before = ensured
            .evicted
            .iter()
            .map(|&package| SideDecision::EvictPackage { package })
            .collect();
        let mut side = Vec::new();
        let pinned = self.installs.pin(need);
        let memory = Bytes::from_mb_f64(self.catalog.function(f).memory_mb);
        let instance = self.handlers.start(f, memory, pinned, now);
        let mut phases = Phases {
            queue,
            create: self.cost.container_create(need.len()),
            install: self.cost.install_time(&ensured.installed),
            import: self.cost.import_time(&missing),
            handler,
            transport: self.cost.transport_cold(),
            ..Phases::default()
        };
        let action = match zygote {
            Some(z) => {
                let (depth, mem) = self.lineage(z);
                let spare = self.spares.take(z, now);
                if spare {
                    phases.fork = self.cost.spare_hit();
                    let ready_at = self.spares.refill(z, now, self.cost.fork(mem));
                    side.push(SideDecision::Refill {
                        zygote: z,
                        ready_at,
                    });
                } else {
                    phases.fork = self.cost.fork(mem);
                }
                if let Some(t) = self.tree.as_mut() {
                    t.record_hit(z);
                }
                self.maybe_grow(z, need, &missing, now, &mut side);
                Action::Fork {
                    zygote: z,
                    depth,
                    spare,
                    import: missing,
                    install: ensured.installed,
                }
            }
            None => {
                phases.create += self.cost.python_start();
                phases.transport += self.cost.transport_fresh();
                Action::Fresh {
                    import: missing,
                    install: ensured.installed,
                }
            }
        };
        if let Some(n) = self.noise.as_mut() {
            let class = match &action {
                Action::Fork { spare: true, .. } => Class::SpareHit,
                Action::Fork { .. } => Class::ZygoteHit,
                _ => Class::Fresh,
            };
            n.apply(class, &mut phases);
        }
        Plan {
            function: f,
            instance,
            action,
            phases,
            before,
            after: side,
        }
    }

    /// Depth of `z` and the memory of its whole process (itself plus
    /// ancestors, without their spares: the pages a fork must map).
    pub fn lineage(&self, z: ZygoteId) -> (u32, Bytes) {
        let Some(t) = self.tree.as_ref() else {
            return (0, Bytes::ZERO);
        };
        let depth = t.node(z).map_or(0, |n| n.depth);
        let mut mem = Bytes::ZERO;
        let mut cur = Some(z);
        while let Some(n) = cur.and_then(|c| t.node(c)) {
            mem += n.memory - n.spare_memory;
            cur = n.parent;
        }
        (depth, mem)
    }

    /// SOCK's dynamic growth: a child of the Zygote just used that holds the
    /// handler's whole closure, when it saves at least `min_gain_ms`.
    fn maybe_grow(
        &mut self,
        parent: ZygoteId,
        need: &PackageSet,
        missing: &PackageSet,
        now: Micros,
        side: &mut Vec<SideDecision>,
    ) {
        if self.config.zygote.mode != ZygoteMode::Dynamic || missing.is_empty() {
            return;
        }
        let gain = self.cost.import_time(missing);
        if gain < Micros::from_ms_f64(self.config.zygote.min_gain_ms) {
            return;
        }
        // One Zygote per package set: a twin may still be importing.
        if self.tree.as_ref().is_some_and(|t| t.has_set(need)) {
            return;
        }
        let (_, parent_mem) = self.lineage(parent);
        let ready_at =
            now + self.cost.container_create(need.len()) + self.cost.fork(parent_mem) + gain;
        // A new Zygote grows only into free worker memory: it never evicts
        // handlers (within the tree's own budget it may evict leaves).
        let Some(memory) = self
            .tree
            .as_ref()
            .map(|t| t.child_memory(missing, &self.cost))
        else {
            return;
        };
        if memory > self.memory_free() {
            self.counters.zygote_growth_skipped += 1;
            return;
        }
        let Some(tree) = self.tree.as_mut() else {
            return;
        };
        let Some(g) = tree.grow(parent, need.clone(), ready_at, false, &self.cost) else {
            return;
        };
        for &z in &g.evicted {
            self.forget_zygote(z, side);
        }
        self.counters.zygotes_created += 1;
        self.zygote_pins
            .insert(g.zygote, self.installs.pin(missing));
        side.push(SideDecision::CreateZygote {
            zygote: g.zygote,
            parent,
            import: missing.clone(),
            ready_at,
        });
        let refills = self.start_spares(g.zygote, ready_at);
        side.extend(refills);
    }

    /// The invocation on `instance` finished at `now`: pause or destroy it.
    pub fn complete(&mut self, instance: InstanceId, now: Micros) -> Vec<SideDecision> {
        let Some(f) = self.handlers.instance(instance).map(|i| i.function) else {
            return Vec::new();
        };
        let costs = self.cold_costs_of(f);
        let released = self.handlers.release_with(instance, now, costs);
        let (release, removed) = (released.release, released.removed);
        if let Some(at) = released.prewarm_at {
            self.schedule_prewarm(f, at.max(now));
        }
        for inst in &removed {
            self.installs.unpin(&inst.pinned);
        }
        self.counters.handler_evictions += release.evicted.len() as u64;
        let mut side: Vec<SideDecision> = release
            .evicted
            .iter()
            .map(|&instance| SideDecision::EvictHandler { instance })
            .collect();
        side.push(if release.kept {
            SideDecision::Pause { instance }
        } else {
            SideDecision::Destroy { instance }
        });
        side
    }

    /// Applies what is due by `now`: pre-warms due (each at its time,
    /// after the expiries due by then), then expiries.
    pub fn tick(&mut self, now: Micros) -> Vec<SideDecision> {
        if self.prewarms.is_empty() {
            return self.expire(now);
        }
        self.tick_prewarms(now)
    }

    /// Expires idle instances whose keep-alive ran out by `now`.
    fn expire(&mut self, now: Micros) -> Vec<SideDecision> {
        let gone = self.handlers.expire(now);
        if gone.is_empty() {
            return Vec::new();
        }
        self.counters.handler_expirations += gone.len() as u64;
        gone.into_iter()
            .map(|inst| {
                self.installs.unpin(&inst.pinned);
                SideDecision::ExpireHandler { instance: inst.id }
            })
            .collect()
    }

    pub(super) fn count_install(
        &mut self,
        installed: &PackageSet,
        uncached: &PackageSet,
        hits: u64,
    ) {
        self.counters.install_hits += hits;
        self.counters.install_misses += installed.len() as u64;
        self.counters.install_uncached += uncached.len() as u64;
    }
}

fn check_config(c: &TierConfig) -> Result<(), PlannerError> {
    use crate::units::{MAX_MB, MAX_MS};
    let mut fields = vec![
        ("handler.budget_mb", c.handler.budget_mb, MAX_MB),
        ("zygote.budget_mb", c.zygote.budget_mb, MAX_MB),
        ("zygote.min_gain_ms", c.zygote.min_gain_ms, MAX_MS),
        ("handler.pause_grace_ms", c.handler.pause_grace_ms, MAX_MS),
        ("install.budget_mb", c.install.budget_mb, MAX_MB),
        (
            "zygote.spares",
            f64::from(c.zygote.spares),
            f64::from(crate::config::MAX_SPARES),
        ),
    ];
    // Seconds: 1e308 became an infinite ms value and a TTL of 0.
    fields.extend(c.handler.policy.numbers());
    let bad = fields
        .into_iter()
        .find(|&(_, v, max)| crate::units::check_range(v, max).is_err());
    match bad {
        Some((field, value, max)) => Err(PlannerError::BadNumber { field, value, max }),
        None => Ok(()),
    }
}
