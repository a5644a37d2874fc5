//! What the handler cache holds and answers: instances, their state, the
//! costs policies rank them by, and what a release did.

use crate::pkgset::PackageSet;
use crate::units::{Bytes, FunctionId, InstanceId, Micros};

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
