//! The trace: packages, functions and a stream of invocations.
//!
//! A trace file is JSON Lines (see `traces/README.md` for the full spec):
//! line 1 is a [`TraceHeader`] holding the package and function tables, and
//! every further line is one invocation `[time_us, function_index]` (format
//! version 2 also `[time_us, function_index, duration_us]`) in
//! non-decreasing time order. Invocations are streamed by [`TraceReader`],
//! so replay memory does not grow with trace length.
//!
//! Versions: 1 is the original format; 2 adds a per-invocation duration
//! (the optional third element) and a function's `cold_duration_ms`. The
//! reader accepts both and refuses a version-2 feature in a version-1
//! file; [`TraceHeader::new`] picks the lowest version that holds the
//! header, so a trace without the new features stays version 1 and every
//! older reader still reads it.

mod catalog;
pub mod names;
mod reader;
mod writer;

pub use catalog::{normalize_name, Catalog, CatalogError};
pub use reader::{Invocations, TraceError, TraceReader};
pub use writer::TraceWriter;

use crate::units::{FunctionId, Micros};
use serde::{Deserialize, Serialize};

/// The `format` field every trace header carries.
pub const FORMAT_NAME: &str = "sock-trace";
/// The newest trace format version this crate reads and writes.
pub const FORMAT_VERSION: u32 = 2;
/// The oldest version it still reads (and writes, when nothing newer is
/// needed).
pub const MIN_FORMAT_VERSION: u32 = 1;
/// The version that added per-invocation durations and `cold_duration_ms`.
pub const DURATIONS_VERSION: u32 = 2;

/// One package version, with the costs the cost model charges for it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct Package {
    pub name: String,
    pub version: String,
    /// Direct dependencies, as indices into the header's `packages` array.
    #[serde(default)]
    pub deps: Vec<u32>,
    /// Top-level modules the package provides (what a handler imports).
    #[serde(default)]
    pub modules: Vec<String>,
    /// Time to import this package once its dependencies are imported (ms).
    pub import_ms: f64,
    /// Memory added by importing it once its dependencies are imported (MB).
    pub import_mb: f64,
    /// Time of `pip install --no-deps` for this package (ms).
    pub install_ms: f64,
    /// Installed size on disk (bytes).
    pub disk_bytes: u64,
    /// True when the costs were imputed by a model rather than measured.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub imputed: bool,
}
object_only!(Package, "a package", serialize);

impl Package {
    /// `name==version`, the key used by the install cache and tree files.
    pub fn key(&self) -> String {
        format!("{}=={}", self.name, self.version)
    }
}

/// A deployed function (handler) and what it needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct Function {
    pub name: String,
    /// Required packages as indices into `packages`; the catalog closes this
    /// set under `deps`, so either direct requirements or a pip-compiled
    /// closure may be given.
    #[serde(default)]
    pub packages: Vec<u32>,
    /// Handler execution time once imports are done (ms).
    pub duration_ms: f64,
    /// Handler execution time of a cold start, when it differs from
    /// `duration_ms` (ms; format version 2; FaasCache runs cold calls for
    /// the durations file's `Maximum`). Absent: `duration_ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cold_duration_ms: Option<f64>,
    /// Memory of one handler instance (MB).
    pub memory_mb: f64,
}
object_only!(Function, "a function", serialize);

/// Line 1 of a trace file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct TraceHeader {
    pub format: String,
    pub version: u32,
    /// Free-form provenance (generator name, parameters, seed, sources).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub source: serde_json::Value,
    pub packages: Vec<Package>,
    pub functions: Vec<Function>,
}
object_only!(TraceHeader, "the trace header", serialize);

impl TraceHeader {
    /// A header of the lowest version that holds these tables: 2 when a
    /// function has a `cold_duration_ms`, else 1. A writer of
    /// per-invocation durations calls [`TraceHeader::with_invocation_durations`].
    pub fn new(
        packages: Vec<Package>,
        functions: Vec<Function>,
        source: serde_json::Value,
    ) -> Self {
        let version = if functions.iter().any(|f| f.cold_duration_ms.is_some()) {
            DURATIONS_VERSION
        } else {
            MIN_FORMAT_VERSION
        };
        TraceHeader {
            format: FORMAT_NAME.to_string(),
            version,
            source,
            packages,
            functions,
        }
    }

    /// The same header, at a version whose invocation lines may carry a
    /// duration (the header must say so before the first line is read).
    pub fn with_invocation_durations(mut self) -> Self {
        self.version = self.version.max(DURATIONS_VERSION);
        self
    }

    /// Whether invocation lines may carry a duration.
    pub fn allows_invocation_durations(&self) -> bool {
        self.version >= DURATIONS_VERSION
    }
}

/// One call of one function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Invocation {
    pub time: Micros,
    pub function: FunctionId,
    /// This call's handler execution time (format version 2), overriding
    /// the function's `duration_ms` and `cold_duration_ms`; `None`: the
    /// function's.
    pub duration: Option<Micros>,
}

impl Invocation {
    /// A call that runs for its function's duration.
    pub fn new(time: Micros, function: FunctionId) -> Invocation {
        Invocation {
            time,
            function,
            duration: None,
        }
    }
}
