//! What the planner answers: how an invocation is served ([`Action`]),
//! what else to do and when ([`SideDecision`], before or after the critical
//! path), and what can fail when a plan is applied ([`Failure`]).

use crate::cost::Phases;
use crate::pkgset::PackageSet;
use crate::record::PathKind;
use crate::units::{FunctionId, InstanceId, Micros, PackageId, ZygoteId};

/// How the invocation is served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Resume the paused `instance`.
    HandlerHit { instance: InstanceId },
    /// Fork `zygote` into a new container, then install and import the rest.
    /// With `spare`, one of its pre-forked children takes the container
    /// instead of a new fork.
    Fork {
        zygote: ZygoteId,
        depth: u32,
        spare: bool,
        import: PackageSet,
        install: PackageSet,
    },
    /// Start a fresh interpreter in a new container.
    Fresh {
        import: PackageSet,
        install: PackageSet,
    },
}

impl Action {
    pub fn path(&self) -> PathKind {
        match self {
            Action::HandlerHit { .. } => PathKind::HandlerHit,
            Action::Fork { .. } => PathKind::ZygoteHit,
            Action::Fresh { .. } => PathKind::Fresh,
        }
    }
}

/// Decisions beside the critical path, in the order they must be applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SideDecision {
    /// Pause a finished instance and keep it in the handler cache.
    Pause {
        instance: InstanceId,
    },
    /// Destroy a finished instance that the cache does not keep.
    Destroy {
        instance: InstanceId,
    },
    /// Destroy an idle instance to make room.
    EvictHandler {
        instance: InstanceId,
    },
    /// Destroy an idle instance whose keep-alive ran out.
    ExpireHandler {
        instance: InstanceId,
    },
    /// Start a new Zygote forked from `parent` that imports `import`.
    CreateZygote {
        zygote: ZygoteId,
        parent: ZygoteId,
        import: PackageSet,
        ready_at: Micros,
    },
    EvictZygote {
        zygote: ZygoteId,
    },
    /// Have `zygote` fork one more pre-forked child (a spare), ready at
    /// `ready_at`: after a spare was used, and for every new Zygote.
    Refill {
        zygote: ZygoteId,
        ready_at: Micros,
    },
    /// Delete an installed package from the install cache.
    EvictPackage {
        package: PackageId,
    },
    /// `zygote` died (or cannot fork): re-create it with its node's
    /// packages, forked from its parent when that runs (else started
    /// fresh), serving again from `ready_at`. Its spares follow as
    /// `Refill`s.
    RepairZygote {
        zygote: ZygoteId,
        ready_at: Micros,
    },
    /// The paused `instance` a handler hit chose is gone: drop whatever is
    /// left of it (the planner no longer counts it).
    ForgetHandler {
        instance: InstanceId,
    },
    /// Pre-warm a new `instance` of `function` (a cold start off the
    /// critical path, then paused): the keep-alive policy asked for it at
    /// `at` (Hybrid Histogram), and it is idle, charged to memory, from
    /// `at`. Applied at the first event at or after `at` (in virtual time,
    /// exactly at `at`: a timer event, [`crate::engine`]).
    Prewarm {
        function: FunctionId,
        instance: InstanceId,
        at: Micros,
    },
}

/// The planner's answer for one invocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub function: FunctionId,
    /// The instance that runs the invocation (new unless a handler hit).
    pub instance: InstanceId,
    pub action: Action,
    /// Predicted latency by phase (sock-exec measures its own).
    pub phases: Phases,
    /// Side decisions applied *before* the critical path, in order: they
    /// make room for it (package evictions for its installs) or clear what
    /// a failed attempt left (a lost handler).
    pub before: Vec<SideDecision>,
    /// Side decisions applied *after* the invocation is served, in order,
    /// off its critical path (Zygote growth and eviction, refills, repairs).
    pub after: Vec<SideDecision>,
}

impl Plan {
    /// Every side decision, `before` then `after`.
    pub fn side(&self) -> impl Iterator<Item = &SideDecision> {
        self.before.iter().chain(&self.after)
    }
}

/// What went wrong when a plan was applied for real (or injected in a
/// simulation); see [`super::Planner::on_failure`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The paused instance of a `HandlerHit` is gone (it died while paused).
    HandlerLost,
    /// The Zygote of a `Fork` is dead or cannot fork.
    ZygoteDied,
}

impl Failure {
    /// Whether this failure can happen to `action` (and so has a
    /// fallback): a handler hit loses its handler, a fork its Zygote.
    pub fn fits(self, action: &Action) -> bool {
        matches!(
            (self, action),
            (Failure::HandlerLost, Action::HandlerHit { .. })
                | (Failure::ZygoteDied, Action::Fork { .. })
        )
    }
}
