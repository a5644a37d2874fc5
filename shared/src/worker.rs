//! The worker (issue 10): the machine the three tiers live on. Its total
//! memory is shared by busy and idle handler instances and the Zygote tree
//! (every byte charged somewhere, as the executor's cgroups charge it; the
//! install cache is disk, not memory), and its cores bound how many calls
//! run at once. The per-tier budgets stay as optional caps inside it.
//!
//! When a call needs memory that is not free once the keep-alive policy
//! has evicted idle instances (and evictable Zygotes), [`WhenFull`] says
//! what happens: it waits FIFO (at most `max_wait_s`, then it is dropped)
//! or it is dropped at once, as FaasCache does. A call that could not fit
//! even in an empty worker is dropped at once either way. With every core
//! busy, calls wait FIFO; a running call's handler time does not stretch
//! (one call per core, as in FaasCache and dslab's default).
//!
//! The defaults describe one plausible worker: 32 cores and 32 GiB for
//! sandboxes (OpenLambda's `mem_pool_mb` is such a share of a host), calls
//! waiting at most 60 s (a common gateway timeout). On the shipped default
//! trace its memory never fills (peak ~8.2 GB) and at most 33 calls would
//! run at once, so 4 of the 100,000 calls wait briefly for a core.

use serde::{Deserialize, Serialize};

/// What a call that does not fit in memory does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    /// Waits FIFO for running calls to free memory, at most `max_wait_s`.
    #[default]
    Queue,
    /// Is dropped at once (FaasCache).
    Drop,
}

impl WhenFull {
    pub fn as_str(self) -> &'static str {
        match self {
            WhenFull::Queue => "queue",
            WhenFull::Drop => "drop",
        }
    }
}

/// The `worker` section of a settings file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", default, deny_unknown_fields)]
pub struct WorkerConfig {
    /// Memory for every sandbox: busy and idle handlers and the Zygote
    /// tree. `None` (`null`): unbounded, as in SOCK's evaluation.
    pub memory_mb: Option<f64>,
    /// Calls running at once. `None` (`null`): unbounded.
    pub cores: Option<usize>,
    pub when_full: WhenFull,
    /// Longest a call waits in the queue (for a core or for memory) before
    /// it is dropped. `None` (`null`): it waits as long as it takes.
    pub max_wait_s: Option<f64>,
}
object_only!(WorkerConfig, "worker", serialize);

/// Default worker memory (MB).
pub const DEFAULT_MEMORY_MB: f64 = 32768.0;
/// Default cores.
pub const DEFAULT_CORES: usize = 32;
/// Default longest wait (s).
pub const DEFAULT_MAX_WAIT_S: f64 = 60.0;

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            memory_mb: Some(DEFAULT_MEMORY_MB),
            cores: Some(DEFAULT_CORES),
            when_full: WhenFull::Queue,
            max_wait_s: Some(DEFAULT_MAX_WAIT_S),
        }
    }
}

impl WorkerConfig {
    /// No limit at all: every call runs at its arrival (SOCK's evaluation,
    /// and this crate's behaviour before the worker model).
    pub fn unbounded() -> WorkerConfig {
        WorkerConfig {
            memory_mb: None,
            cores: None,
            when_full: WhenFull::Queue,
            max_wait_s: None,
        }
    }

    /// Checks every field; the error names it (`worker.memory_mb`, ...).
    pub fn check(&self) -> Result<(), String> {
        use crate::units::{check_range, show, MAX_MB, MAX_MS};
        let numbers = [
            ("worker.memory_mb", self.memory_mb, MAX_MB),
            ("worker.max_wait_s", self.max_wait_s, MAX_MS / 1000.0),
        ];
        for (field, value, max) in numbers {
            if let Some(v) = value {
                check_range(v, max).map_err(|e| format!("{field} is {}; {e}", show(v)))?;
            }
        }
        if self.cores == Some(0) {
            return Err("worker.cores is 0; it must be at least 1 (or null: unbounded)".into());
        }
        Ok(())
    }

    /// One line for reports: `32768 MB, 32 cores, queue (max wait 60 s)`.
    pub fn describe(&self) -> String {
        let mem = self
            .memory_mb
            .map_or("unbounded memory".to_string(), |m| format!("{m} MB"));
        let cores = self
            .cores
            .map_or("unbounded cores".to_string(), |c| format!("{c} cores"));
        let rule = match (self.when_full, self.max_wait_s) {
            (WhenFull::Drop, _) => "drop when full".to_string(),
            (WhenFull::Queue, Some(w)) => format!("queue (max wait {w} s)"),
            (WhenFull::Queue, None) => "queue (no max wait)".to_string(),
        };
        format!("{mem}, {cores}, {rule}")
    }
}

/// Why a call was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// Memory was full and the rule is `drop`.
    Full,
    /// It waited `max_wait_s` in the queue.
    Waited,
    /// Its instance is bigger than what the worker could ever free for it.
    TooBig,
}

impl DropReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Full => "full",
            DropReason::Waited => "waited",
            DropReason::TooBig => "too_big",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_checks() {
        let w = WorkerConfig::default();
        assert!(w.check().is_ok());
        assert_eq!(w.describe(), "32768 MB, 32 cores, queue (max wait 60 s)");
        let bad = WorkerConfig {
            memory_mb: Some(f64::NAN),
            ..WorkerConfig::default()
        };
        assert!(bad
            .check()
            .expect_err("invalid")
            .starts_with("worker.memory_mb is NaN"));
        let bad = WorkerConfig {
            cores: Some(0),
            ..WorkerConfig::default()
        };
        assert!(bad.check().expect_err("invalid").contains("worker.cores"));
        let parsed: WorkerConfig =
            serde_json::from_str(r#"{"memory_mb": null, "when_full": "drop"}"#).expect("parse");
        assert_eq!(parsed.memory_mb, None);
        assert_eq!(parsed.cores, Some(DEFAULT_CORES));
        assert!(serde_json::from_str::<WorkerConfig>(r#"{"memroy_mb": 1}"#).is_err());
        assert!(serde_json::from_str::<WorkerConfig>("[1]").is_err());
    }
}
