//! Warnings of `sim trace build`: input the importer could use only after a
//! documented fix-up (a malformed closure entry skipped, a missing duration
//! imputed, ...). Each names its file and line (or JSON key), is counted by
//! kind and reported; nothing is dropped without one.

use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// What went wrong; the report counts warnings per kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningKind {
    /// A closure entry that is not `name-version`: skipped.
    MalformedEntry,
    /// Two versions of one package in one closure: both kept.
    ConflictingVersions,
    /// A function with no row in the durations file: median duration used.
    NoDurationRow,
    /// A function whose app has no row in the memory file: the median
    /// per-function memory is used.
    NoMemoryRow,
    /// A durations or memory row for no function of the invocations file.
    UnusedRow,
    /// A second durations or memory row for the same key: the first is used.
    DuplicateRow,
    /// Memory rows of one app that disagree: the first is used.
    ConflictingMemory,
    /// A duration row whose percentiles are not sorted: sorted before use.
    UnsortedPercentiles,
    /// A measured package's `top` entry that is not an importable module
    /// name (a trace may hold only dotted Python identifiers): dropped.
    BadModule,
}

impl WarningKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WarningKind::MalformedEntry => "malformed closure entry (skipped)",
            WarningKind::ConflictingVersions => {
                "two versions of a package in one closure (both kept)"
            }
            WarningKind::NoDurationRow => "function without a duration row (median duration used)",
            WarningKind::NoMemoryRow => "function whose app has no memory row (median memory used)",
            WarningKind::UnusedRow => "row matching no function of the invocations file (unused)",
            WarningKind::DuplicateRow => "duplicate row (the first one is used)",
            WarningKind::ConflictingMemory => {
                "memory rows of one app disagree (the first one is used)"
            }
            WarningKind::UnsortedPercentiles => "duration percentiles out of order (sorted)",
            WarningKind::BadModule => "module that is not a Python identifier (dropped)",
        }
    }
}

/// One warning: where (file, and line or JSON key when known) and what.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Warning {
    pub kind: WarningKind,
    pub file: String,
    /// 1-based line in `file`, for line-oriented files.
    pub line: Option<u64>,
    pub detail: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file, line, self.detail),
            None => write!(f, "{}: {}", self.file, self.detail),
        }
    }
}

/// All warnings of one build, in the order they were found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Warnings(pub Vec<Warning>);

impl Warnings {
    pub fn push(&mut self, kind: WarningKind, file: &str, line: Option<u64>, detail: String) {
        self.0.push(Warning {
            kind,
            file: file.to_string(),
            line,
            detail,
        });
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn count(&self, kind: WarningKind) -> usize {
        self.0.iter().filter(|w| w.kind == kind).count()
    }

    pub fn by_kind(&self) -> BTreeMap<WarningKind, usize> {
        let mut out = BTreeMap::new();
        for w in &self.0 {
            *out.entry(w.kind).or_insert(0) += 1;
        }
        out
    }

    /// Per kind: the count, then the first `examples` warnings in full.
    pub fn to_text(&self, examples: usize) -> String {
        let mut out = String::new();
        for (kind, n) in self.by_kind() {
            out.push_str(&format!("warning: {n} x {}\n", kind.as_str()));
            for w in self.0.iter().filter(|w| w.kind == kind).take(examples) {
                out.push_str(&format!("  {w}\n"));
            }
            if n > examples {
                out.push_str(&format!("  ... and {} more\n", n - examples));
            }
        }
        out
    }
}
