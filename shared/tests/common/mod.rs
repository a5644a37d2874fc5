//! Helpers shared by the engine and worker tests: a small catalog, tier
//! settings, and the cost model as effects with a log of what happened.

#![allow(dead_code)]

use sock_core::config::{HandlerTier, InstallTier, TierConfig, ZygoteMode, ZygoteTier};
use sock_core::cost::CostParams;
use sock_core::engine::{
    Call, Dropped, Effects, Engine, EngineError, EngineOptions, EngineStats, Served, VirtualReplay,
};
use sock_core::handler_cache::PolicyConfig;
use sock_core::planner::{Action, Failure, Plan, Planner, SideDecision, TierUsage};
use sock_core::trace::{Catalog, Function, Invocation, Package, TraceHeader};
use sock_core::{Bytes, FunctionId, Micros};
use std::collections::BTreeMap;

/// `(import_ms, import_mb)` per package; functions by their packages.
pub fn catalog(pkgs: &[(f64, f64)], funcs: &[&[u32]], duration_ms: f64) -> Catalog {
    let packages = pkgs
        .iter()
        .enumerate()
        .map(|(i, &(import_ms, import_mb))| Package {
            name: format!("p{i}"),
            version: "1.0".into(),
            deps: Vec::new(),
            modules: vec![format!("p{i}")],
            import_ms,
            import_mb,
            install_ms: 100.0,
            disk_bytes: 1 << 20,
            imputed: false,
        })
        .collect();
    let functions = funcs
        .iter()
        .enumerate()
        .map(|(i, p)| Function {
            name: format!("f{i}"),
            packages: p.to_vec(),
            duration_ms,
            cold_duration_ms: None,
            memory_mb: 50.0,
        })
        .collect();
    Catalog::new(TraceHeader::new(
        packages,
        functions,
        serde_json::Value::Null,
    ))
    .expect("valid catalog")
}

pub fn tiers(mode: ZygoteMode, spares: u32) -> TierConfig {
    TierConfig {
        handler: HandlerTier {
            budget_mb: 1000.0,
            policy: PolicyConfig::Lru,
            ..HandlerTier::default()
        },
        zygote: ZygoteTier {
            mode,
            budget_mb: 1000.0,
            min_gain_ms: 0.0,
            spares,
        },
        install: InstallTier { budget_mb: 1000.0 },
    }
}

pub fn inv(t_ms: u64, f: u32) -> Invocation {
    Invocation {
        time: Micros(t_ms * 1000),
        function: FunctionId(f),
        duration: None,
    }
}

/// The cost model as effects (sim's), with failures injected by
/// invocation, and a log of everything applied.
#[derive(Default)]
pub struct Logged {
    pub inject: BTreeMap<u64, Failure>,
    /// (seq, attempt, plan) of every serve.
    pub served: Vec<(u64, u32, Plan)>,
    pub applied: Vec<SideDecision>,
    /// Fail every plan that can fail (a worst case for termination).
    pub fail_always: bool,
    /// Inject even a failure that does not fit the plan (a caller's bug).
    pub misfit: bool,
    /// Calls the engine dropped.
    pub dropped: Vec<Dropped>,
    /// The most worker memory charged at any serve or observation.
    pub peak_memory: Bytes,
}

impl Effects for Logged {
    type Error = EngineError;

    fn apply(
        &mut self,
        _: &Planner<'_>,
        side: &[SideDecision],
        _: Micros,
    ) -> Result<(), EngineError> {
        self.applied.extend_from_slice(side);
        Ok(())
    }

    fn serve(
        &mut self,
        planner: &Planner<'_>,
        call: &Call,
        plan: &Plan,
    ) -> Result<Served, EngineError> {
        self.peak_memory = self.peak_memory.max(planner.memory_used());
        self.served.push((call.seq, call.attempt, plan.clone()));
        if self.fail_always {
            return Ok(Served::Failed(match plan.action {
                Action::HandlerHit { .. } => Failure::HandlerLost,
                _ => Failure::ZygoteDied,
            }));
        }
        if call.attempt == 0 {
            if let Some(&f) = self.inject.get(&call.seq) {
                let fits = f.fits(&plan.action);
                if fits || self.misfit {
                    return Ok(Served::Failed(f));
                }
            }
        }
        Ok(Served::Done {
            service: plan.phases.total() - plan.phases.queue,
        })
    }

    fn observe(&mut self, _: Micros, u: TierUsage) {
        self.peak_memory = self
            .peak_memory
            .max(u.handler_busy + u.handler_idle + u.zygote);
    }

    fn dropped(&mut self, _: &Planner<'_>, call: &Dropped) {
        self.dropped.push(*call);
    }
}

pub fn replay<'c>(
    catalog: &'c Catalog,
    tiers: TierConfig,
    options: EngineOptions,
    fx: &mut Logged,
    invs: &[Invocation],
) -> Result<Planner<'c>, EngineError> {
    replay_stats(catalog, tiers, options, fx, invs).map(|(p, _)| p)
}

/// [`replay`], also returning the engine's queue counts.
pub fn replay_stats<'c>(
    catalog: &'c Catalog,
    tiers: TierConfig,
    options: EngineOptions,
    fx: &mut Logged,
    invs: &[Invocation],
) -> Result<(Planner<'c>, EngineStats), EngineError> {
    let planner = Planner::new(catalog, CostParams::default(), tiers, None).expect("planner");
    let mut r = VirtualReplay::new(Engine::new(planner, options));
    for (seq, i) in invs.iter().enumerate() {
        r.arrive(fx, seq as u64, *i)?;
    }
    r.finish(fx)?;
    let engine = r.into_engine();
    let stats = engine.stats();
    Ok((engine.into_planner(), stats))
}

/// The plan finally served for `seq`.
pub fn final_plan(fx: &Logged, seq: u64) -> &Plan {
    fx.served
        .iter()
        .rev()
        .find(|(s, _, _)| *s == seq)
        .map(|(_, _, p)| p)
        .expect("served")
}
