//! The per-invocation record both `sim --records` and `sock-exec run` write
//! (one JSON object per line), so the two streams can be compared.

use crate::cost::Phases;
use serde::{Deserialize, Serialize};

/// Which way an invocation was served.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PathKind {
    /// A paused instance of the function was resumed.
    HandlerHit,
    /// Forked from a Zygote into a new lean container.
    ZygoteHit,
    /// A fresh interpreter in a new lean container.
    Fresh,
}

impl PathKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PathKind::HandlerHit => "handler_hit",
            PathKind::ZygoteHit => "zygote_hit",
            PathKind::Fresh => "fresh",
        }
    }
}

/// Phase latencies in microseconds, in the order of [`Phases::NAMES`].
pub type PhasesUs = crate::phases::ByPhase<u64>;

impl From<Phases> for PhasesUs {
    fn from(p: Phases) -> Self {
        p.map(|m| m.0)
    }
}

/// The record schema this code writes. Schema 1 (no `schema` field) had
/// no `transport` phase and no `spare` flag; readers accept both.
pub const RECORD_SCHEMA: u32 = 2;

fn schema_1() -> u32 {
    1
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self")]
pub struct InvocationRecord {
    /// [`RECORD_SCHEMA`] when written; 1 when absent (older files).
    #[serde(default = "schema_1")]
    pub schema: u32,
    /// Position of the invocation in the trace (0-based).
    pub seq: u64,
    pub arrival_us: u64,
    pub function: u32,
    pub function_name: String,
    pub instance: u64,
    pub path: PathKind,
    /// The Zygote forked from (zygote_hit path only).
    pub zygote: Option<u32>,
    /// Its depth in the tree; the root is depth 0.
    pub zygote_depth: Option<u32>,
    /// Zygote hits only: served by one of the Zygote's pre-forked children
    /// (no fork on the critical path). Schema 2; false when absent.
    #[serde(default)]
    pub spare: bool,
    /// Packages imported on the critical path, as `name==version`.
    pub imported: Vec<String>,
    /// Packages installed on the critical path, as `name==version`.
    pub installed: Vec<String>,
    pub phases_us: PhasesUs,
    pub latency_us: u64,
}
object_only!(InvocationRecord, "an invocation record", serialize);
