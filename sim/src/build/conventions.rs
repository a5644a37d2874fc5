//! The conventions of the keep-alive literature, as named options of
//! `sim trace build`, so a user can rebuild the setups of FaasCache
//! (Fuerst & Sharma, ASPLOS'21) and dslab-faas from the same Azure data.
//! `--conventions sock|faascache|dslab` sets every option at once; each
//! option's own flag overrides the preset. The table (and why each
//! default) is in `traces/README.md`, section 8.4.
//!
//! | option | sock (default) | faascache | dslab |
//! |---|---|---|---|
//! | `--arrivals` | uniform | even | uniform |
//! | `--cold-duration` | average | maximum | average |
//! | `--call-durations` | fixed | fixed | step |
//! | `--memory-column` | AverageAllocatedMb | AverageAllocatedMb | AverageAllocatedMb_pct100 |
//! | `--memory-split` | even | even | whole |
//! | memory floor | on | off | off |
//! | `--instances` | per-function | per-function | per-app |
//! | `--min-calls` | 0 | 2 | 0 |
//!
//! When the keep-alive clock starts is a replay-time choice
//! (`sim --keepalive-from start` for FaasCache), not part of the trace.

use super::arrivals::ArrivalChoice;
use super::durations::DurationChoice;
use super::BuildParams;
use serde::Serialize;

/// A bundle of conventions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// This project's defaults (each justified in traces/README.md 8.3).
    #[default]
    Sock,
    /// FaasCache's trace preparation (`trace_split_funcs.py`).
    Faascache,
    /// dslab-faas's Azure 2019 importer (`extra/azure_trace_2019.rs`).
    Dslab,
}

/// How long a cold start's handler runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ColdDuration {
    /// As a warm one: the function's duration (no `cold_duration_ms`).
    Average,
    /// The durations file's `Maximum` (FaasCache's cold time).
    Maximum,
}

/// How long each call's handler runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallDurations {
    /// The function's duration (format version 1 lines).
    Fixed,
    /// A draw per call from the percentiles, inverse CDF linear between them.
    Linear,
    /// A draw per call as dslab-faas does: the upper percentile of the
    /// bucket the uniform draw falls in, at least 1 ms.
    Step,
}

/// What one function's instance holds of its app's memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MemorySplit {
    /// The app's memory split evenly over its functions (FaasCache).
    Even,
    /// The app's whole memory (dslab, whose instances belong to the app).
    Whole,
}

/// Which calls an instance can serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Instances {
    /// Only its function's (one trace function per Azure function).
    PerFunction,
    /// Any function of its app (one trace function per app; dslab).
    PerApp,
}

/// Every convention, resolved from the preset and the flags.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Conventions {
    pub conventions: Preset,
    pub arrivals: ArrivalChoice,
    pub duration: DurationChoice,
    pub cold_duration: ColdDuration,
    pub call_durations: CallDurations,
    pub memory_column: String,
    pub memory_split: MemorySplit,
    pub memory_floor: bool,
    pub instances: Instances,
    pub min_calls: u64,
}

impl Conventions {
    /// The preset's values.
    pub fn preset(p: Preset) -> Conventions {
        let base = Conventions {
            conventions: p,
            arrivals: ArrivalChoice::Uniform,
            duration: DurationChoice::Average,
            cold_duration: ColdDuration::Average,
            call_durations: CallDurations::Fixed,
            memory_column: "AverageAllocatedMb".into(),
            memory_split: MemorySplit::Even,
            memory_floor: true,
            instances: Instances::PerFunction,
            min_calls: 0,
        };
        match p {
            Preset::Sock => base,
            Preset::Faascache => Conventions {
                arrivals: ArrivalChoice::Even,
                cold_duration: ColdDuration::Maximum,
                memory_floor: false,
                min_calls: 2,
                ..base
            },
            Preset::Dslab => Conventions {
                call_durations: CallDurations::Step,
                memory_column: "AverageAllocatedMb_pct100".into(),
                memory_split: MemorySplit::Whole,
                memory_floor: false,
                instances: Instances::PerApp,
                ..base
            },
        }
    }

    /// The preset of `--conventions`, then each flag given.
    pub fn resolve(p: &BuildParams) -> Conventions {
        let mut c = Conventions::preset(p.conventions);
        c.arrivals = p.arrivals.unwrap_or(c.arrivals);
        c.duration = p.duration.unwrap_or(c.duration);
        c.cold_duration = p.cold_duration.unwrap_or(c.cold_duration);
        c.call_durations = p.call_durations.unwrap_or(c.call_durations);
        if let Some(col) = &p.memory_column {
            c.memory_column = col.clone();
        }
        c.memory_split = p.memory_split.unwrap_or(c.memory_split);
        if p.no_memory_floor {
            c.memory_floor = false;
        }
        if p.memory_floor {
            c.memory_floor = true;
        }
        c.instances = p.instances.unwrap_or(c.instances);
        c.min_calls = p.min_calls.unwrap_or(c.min_calls);
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_preset() {
        let p = BuildParams {
            conventions: Preset::Faascache,
            arrivals: Some(ArrivalChoice::Uniform),
            min_calls: Some(5),
            memory_floor: true,
            ..BuildParams::default()
        };
        let c = Conventions::resolve(&p);
        assert_eq!(c.arrivals, ArrivalChoice::Uniform);
        assert_eq!(c.cold_duration, ColdDuration::Maximum, "from the preset");
        assert_eq!((c.min_calls, c.memory_floor), (5, true));
        let d = Conventions::resolve(&BuildParams {
            conventions: Preset::Dslab,
            ..BuildParams::default()
        });
        assert_eq!(d.instances, Instances::PerApp);
        assert_eq!(d.memory_column, "AverageAllocatedMb_pct100");
        assert_eq!(
            Conventions::resolve(&BuildParams::default()),
            Conventions::preset(Preset::Sock)
        );
    }
}
