//! What each invocation's plan predicts, per phase, and the quantities the
//! cost model's terms scale with (closure size, the forked Zygote's
//! memory): the regressors of `sim calibrate`. Collected by replaying the
//! trace with the prior settings through the one engine, as `sim` does,
//! so the plans are the ones `sim --records` would write.

use anyhow::Result;
use sock_core::engine::{Call, Effects, Engine, EngineError, EngineOptions, Served, VirtualReplay};
use sock_core::planner::{Action, Plan, Planner, SideDecision};
use sock_core::record::PathKind;
use sock_core::trace::{Invocation, TraceError};
use sock_core::Micros;
use std::collections::BTreeMap;

/// One invocation's plan as the fit needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct Features {
    pub path: PathKind,
    pub depth: Option<u32>,
    pub spare: bool,
    /// Packages in the function's closure (what create mounts).
    pub packages: usize,
    /// Memory of the forked Zygote's process, ancestors included (MB).
    pub zygote_mb: f64,
    /// Predicted import and install phases (ms) at the prior scales.
    pub import_ms: f64,
    pub install_ms: f64,
    /// The whole predicted phases (µs), for the noise fit.
    pub phases: sock_core::record::PhasesUs,
}

struct Collect {
    by_seq: BTreeMap<u64, Features>,
}

impl Effects for Collect {
    type Error = EngineError;

    fn apply(&mut self, _: &Planner<'_>, _: &[SideDecision], _: Micros) -> Result<(), EngineError> {
        Ok(())
    }

    fn serve(
        &mut self,
        planner: &Planner<'_>,
        call: &Call,
        plan: &Plan,
    ) -> Result<Served, EngineError> {
        let (depth, spare, zygote_mb) = match &plan.action {
            Action::Fork {
                zygote,
                depth,
                spare,
                ..
            } => (Some(*depth), *spare, planner.lineage(*zygote).1.as_mb_f64()),
            _ => (None, false, 0.0),
        };
        let ms = |m: Micros| m.0 as f64 / 1000.0;
        self.by_seq.insert(
            call.seq,
            Features {
                path: plan.action.path(),
                depth,
                spare,
                packages: planner.catalog().closure(plan.function).len(),
                zygote_mb,
                import_ms: ms(plan.phases.import),
                install_ms: ms(plan.phases.install),
                phases: plan.phases.into(),
            },
        );
        Ok(Served::Done {
            service: plan.phases.total() - plan.phases.queue,
        })
    }
}

/// Replays `invocations` on `planner` and returns each invocation's
/// features by `seq`.
pub fn collect<I>(
    planner: Planner<'_>,
    options: EngineOptions,
    invocations: I,
) -> Result<BTreeMap<u64, Features>>
where
    I: Iterator<Item = Result<Invocation, TraceError>>,
{
    let mut fx = Collect {
        by_seq: BTreeMap::new(),
    };
    let mut replay = VirtualReplay::new(Engine::new(planner, options));
    replay.run(&mut fx, invocations).map_err(|e| match e {
        sock_core::engine::ReplayError::Trace(e) => anyhow::Error::from(e),
        sock_core::engine::ReplayError::Effects(e) => anyhow::Error::from(e),
    })?;
    Ok(fx.by_seq)
}
