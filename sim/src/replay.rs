//! sim's side of the one engine (`sock_core::engine`): the engine orders
//! arrivals, the queue, completions and failures in virtual time; this
//! module applies its plans with the cost model, where sock-exec applies
//! the same plans with real containers. Each invocation is served in its
//! plan's predicted time, and one record per invocation is written in the
//! order invocations start.
//!
//! Side decisions cost nothing here: the cost model already charged what
//! the critical path pays, and the rest (pausing, destroying, growing
//! Zygotes) happens off it. Failures can be injected ([`ReplayOptions`]),
//! so tests check that sim takes the fallbacks sock-exec takes.

use crate::memory_series::MemorySeries;
use crate::setup_loop::SetupLoop;
use crate::stats::Stats;
use sock_core::cost::Phases;
use sock_core::engine::{
    Call, Dropped, Effects, Engine, EngineError, EngineOptions, Served, VirtualReplay,
};
use sock_core::planner::{Action, Failure, Plan, Planner, SideDecision, TierUsage};
use sock_core::record::{InvocationRecord, RECORD_SCHEMA};
use sock_core::trace::{Invocation, TraceError};
use sock_core::Micros;
use std::collections::BTreeMap;
use std::io::Write;

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Trace(#[from] TraceError),
    #[error("writing records: {0}")]
    Records(#[from] std::io::Error),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// Replay knobs that are mechanism, not policy.
#[derive(Clone, Debug, Default)]
pub struct ReplayOptions {
    /// The worker: cores, memory, and what a call that does not fit does
    /// (the wait is the `queue` phase). Default: unbounded, as in SOCK's
    /// evaluation.
    pub engine: EngineOptions,
    /// Failures to inject, by invocation: the first plan of invocation
    /// `seq` fails with this failure when it fits the plan (a handler hit
    /// can lose its handler, a fork its Zygote), as if sock-exec had found
    /// the handler dead or the Zygote gone.
    pub inject: BTreeMap<u64, Failure>,
    /// Record each tier's memory over time ([`crate::memory_series`]) into
    /// [`Stats::memory_series`].
    pub memory_series: bool,
    /// Set-ups wait for one loop, as in `sock-exec run --concurrent`
    /// ([`crate::setup_loop`]): the wait is added to the `queue` phase.
    pub serial_setup: bool,
}

/// The cost model as the engine's effects.
struct CostEffects<'w> {
    stats: Stats,
    records: Option<&'w mut dyn Write>,
    inject: BTreeMap<u64, Failure>,
    series: Option<MemorySeries>,
    setup: Option<SetupLoop>,
}

impl Effects for CostEffects<'_> {
    type Error = ReplayError;

    fn apply(
        &mut self,
        _: &Planner<'_>,
        decisions: &[SideDecision],
        now: Micros,
    ) -> Result<(), ReplayError> {
        if let Some(l) = self.setup.as_mut() {
            l.side(decisions, now);
        }
        Ok(())
    }

    fn serve(
        &mut self,
        planner: &Planner<'_>,
        call: &Call,
        plan: &Plan,
    ) -> Result<Served, ReplayError> {
        if call.attempt == 0 {
            if let Some(&failure) = self.inject.get(&call.seq) {
                let fits = failure.fits(&plan.action);
                if fits {
                    return Ok(Served::Failed(failure));
                }
            }
        }
        let mut phases = plan.phases;
        if let Some(l) = self.setup.as_mut() {
            let wait = l.serve(plan, call.start, planner.cost().python_start());
            // sock-exec resumes a call whose pip run ended when its loop is
            // free: that wait ends its install phase.
            if phases.install > Micros::ZERO {
                phases.install += wait;
            } else {
                phases.queue += wait;
            }
        }
        self.stats.observe_plan(plan, &phases, call.inv.time);
        if let Some(out) = self.records.as_deref_mut() {
            let rec = record(planner, call.seq, call.inv, plan, &phases);
            serde_json::to_writer(&mut *out, &rec).map_err(std::io::Error::from)?;
            out.write_all(b"\n")?;
        }
        // The set-up loop's wait is part of the service (the engine's own
        // queue wait is before `call.start`).
        Ok(Served::Done {
            service: phases.total() - plan.phases.queue,
        })
    }

    fn observe(&mut self, now: Micros, usage: TierUsage) {
        self.stats.observe_usage(now, usage);
        if let Some(s) = self.series.as_mut() {
            s.observe(now, usage);
        }
    }

    fn dropped(&mut self, _: &Planner<'_>, call: &Dropped) {
        self.stats.observe_drop(call);
    }
}

/// Replays `invocations` against `planner`; writes one record per
/// invocation to `records` when given, in the order invocations start.
pub fn replay<I>(
    planner: Planner<'_>,
    invocations: I,
    options: ReplayOptions,
    records: Option<&mut dyn Write>,
) -> Result<Stats, ReplayError>
where
    I: Iterator<Item = Result<Invocation, TraceError>>,
{
    let engine = Engine::new(planner, options.engine);
    let mut fx = CostEffects {
        stats: Stats::default(),
        records,
        inject: options.inject,
        series: options.memory_series.then(MemorySeries::new),
        setup: options.serial_setup.then(SetupLoop::default),
    };
    let mut replay = VirtualReplay::new(engine);
    replay.run(&mut fx, invocations).map_err(|e| match e {
        sock_core::engine::ReplayError::Trace(e) => ReplayError::Trace(e),
        sock_core::engine::ReplayError::Effects(e) => e,
    })?;
    let engine = replay.into_engine();
    let mut stats = fx.stats;
    stats.memory_series = fx.series;
    stats.engine = engine.stats();
    stats.worker = *engine.options();
    let planner = engine.into_planner();
    stats.finish(planner.counters(), &planner);
    Ok(stats)
}

/// The shared per-invocation record for a plan applied in virtual time,
/// with the phases it took (the plan's, plus any set-up loop wait).
pub fn record(
    planner: &Planner<'_>,
    seq: u64,
    inv: Invocation,
    plan: &Plan,
    phases: &Phases,
) -> InvocationRecord {
    let catalog = planner.catalog();
    let keys = |s: &sock_core::PackageSet| s.iter().map(|p| catalog.package(p).key()).collect();
    let (zygote, depth, spare, imported, installed) = match &plan.action {
        Action::HandlerHit { .. } => (None, None, false, Vec::new(), Vec::new()),
        Action::Fork {
            zygote,
            depth,
            spare,
            import,
            install,
        } => (
            Some(zygote.0),
            Some(*depth),
            *spare,
            keys(import),
            keys(install),
        ),
        Action::Fresh { import, install } => (None, None, false, keys(import), keys(install)),
    };
    InvocationRecord {
        schema: RECORD_SCHEMA,
        seq,
        arrival_us: inv.time.0,
        function: inv.function.0,
        function_name: catalog.function(inv.function).name.clone(),
        instance: plan.instance.0,
        path: plan.action.path(),
        zygote,
        zygote_depth: depth,
        spare,
        imported,
        installed,
        phases_us: (*phases).into(),
        latency_us: phases.total().0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sock_core::config::{TierConfig, ZygoteMode};
    use sock_core::cost::CostParams;
    use sock_core::trace::{Catalog, Function, Package, TraceHeader};
    use sock_core::FunctionId;

    #[test]
    fn injected_failures_take_the_planners_fallbacks() {
        let pkg = Package {
            name: "a".into(),
            version: "1".into(),
            deps: Vec::new(),
            modules: vec!["a".into()],
            import_ms: 100.0,
            import_mb: 5.0,
            install_ms: 10.0,
            disk_bytes: 1 << 20,
            imputed: false,
        };
        let func = |name: &str| Function {
            name: name.into(),
            packages: vec![0],
            duration_ms: 10.0,
            cold_duration_ms: None,
            memory_mb: 50.0,
        };
        let header = TraceHeader::new(
            vec![pkg],
            vec![func("f"), func("g")],
            serde_json::Value::Null,
        );
        let catalog = Catalog::new(header).expect("catalog");
        let mut tiers = TierConfig::default();
        tiers.zygote.mode = ZygoteMode::Root;
        let inv = |ms: u64, f: u32| {
            Ok(Invocation {
                time: Micros(ms * 1000),
                function: FunctionId(f),
                duration: None,
            })
        };
        // f forks from the root (dies: fresh), f again is a hit (lost:
        // a cold start), g forks from the repaired root.
        let mut options = ReplayOptions::default();
        options.inject.insert(0, Failure::ZygoteDied);
        options.inject.insert(1, Failure::HandlerLost);
        let planner = Planner::new(&catalog, CostParams::default(), tiers, None).expect("planner");
        let mut out = Vec::new();
        let stats = replay(
            planner,
            [inv(0, 0), inv(1000, 0), inv(5000, 1)].into_iter(),
            options,
            Some(&mut out),
        )
        .expect("replay");
        let paths: Vec<String> = String::from_utf8(out)
            .expect("utf8")
            .lines()
            .map(|l| {
                let r: InvocationRecord = serde_json::from_str(l).expect("record");
                r.path.as_str().to_string()
            })
            .collect();
        assert_eq!(paths, ["fresh", "zygote_hit", "zygote_hit"]);
        let c = stats.counters;
        assert_eq!((c.fallbacks, c.handlers_lost, c.zygote_repairs), (2, 1, 1));
    }
}
