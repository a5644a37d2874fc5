//! `sim calibrate --from measured.jsonl`: fits the cost model's
//! parameters to a run's own measured records (issue 9), so the model is
//! calibrated in the conditions of a run rather than of a micro-benchmark.
//!
//! The trace is replayed with the prior settings (the run's config and
//! calibration) to get each invocation's plan; measured records are joined
//! on `seq` and kept when they took the same path (same Zygote depth, same
//! spare use). Each phase's term of the cost model is then a linear model
//! fitted by median regression ([`robust::lad`], the default: start-up
//! phases are skewed and `sim compare` reports medians) or by least squares
//! ([`fit::ols`], `--fit mean`), each parameter reported with its
//! confidence interval (percentile bootstrap for the median fit, Student-t
//! for least squares):
//!
//! | phase (records) | model (ms) | parameters |
//! |---|---|---|
//! | unpause (handler hits) | `u` | `unpause_ms` |
//! | transport (all) | `t + c·[cold start] + f·[fresh]` | `transport_ms`, `transport_cold_ms`, `transport_fresh_ms` |
//! | create (Zygote hits, fresh) | `c + p·packages + s·[fresh]` | `container_create_ms`, `create_per_package_ms`, `python_start_ms` |
//! | fork (Zygote hits, no spare) | `b + m·zygote MB` | `fork_base_ms`, `fork_per_mb_ms` |
//! | fork (spare hits) | `h` | `spare_hit_ms` |
//! | import, install (where predicted > 0) | `k·predicted` | `import_scale`, `install_scale` (prior × k) |
//!
//! Then the noise: the trace is replayed again with the fitted
//! parameters, and per path class (handler hit, Zygote hit by fork, spare
//! hit, fresh) and phase the distribution of measured / predicted is
//! written into the file's `noise` block ([`noise`]; `--no-noise` leaves
//! it out), which makes `sim` sample each phase instead of predicting one
//! value.
//!
//! Several runs of one host (`--from` repeated, each with its trace and
//! settings) are fitted as one set of rows: e.g. a run with the Zygote
//! tier off gives the fresh starts that identify `python_start_ms`.
//!
//! A parameter the records cannot identify (no fresh start, one closure
//! size, one Zygote size, no samples) keeps its prior value, and the report
//! says why. Negative estimates are clamped to 0 (and said so).

pub mod features;
pub mod fit;
mod models;
pub mod noise;
mod report;
pub mod robust;

pub use models::{fit_all, ParamFit};
pub use report::{render_text, CalibrationReport};

use anyhow::{Context, Result};
use sock_core::record::InvocationRecord;
use std::collections::BTreeMap;

/// What a phase's fit minimises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Estimator {
    /// Least absolute deviations: a term lands on the samples' median.
    Median,
    /// Least squares: a term lands on the samples' mean.
    Mean,
}

/// How every phase is fitted.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FitOptions {
    /// Confidence level of the intervals, in (0, 1).
    pub confidence: f64,
    pub estimator: Estimator,
    /// Fit the noise block (seeded with this value); `None`: leave it out.
    pub noise_seed: Option<u64>,
}

/// A measured record joined with its plan's features.
#[derive(Clone, Debug)]
pub struct Joined<'a> {
    pub measured: &'a InvocationRecord,
    pub features: &'a features::Features,
}

/// Joins measured records with predicted features on `seq`, keeping those
/// that took the predicted path. Returns the joined rows and how many
/// measured records were left out (other path, or not in the replay).
pub fn join<'a>(
    measured: &'a [InvocationRecord],
    predicted: &'a BTreeMap<u64, features::Features>,
) -> (Vec<Joined<'a>>, usize) {
    let mut rows = Vec::new();
    let mut left_out = 0;
    for m in measured {
        match predicted.get(&m.seq) {
            Some(f) if f.path == m.path && f.depth == m.zygote_depth && f.spare == m.spare => rows
                .push(Joined {
                    measured: m,
                    features: f,
                }),
            _ => left_out += 1,
        }
    }
    (rows, left_out)
}

/// One measured run to fit on: its trace, its settings (config and the
/// prior calibration) and its records.
#[derive(Clone, Debug)]
pub struct Run {
    pub trace: std::path::PathBuf,
    pub settings: sock_core::config::Settings,
    pub measured: std::path::PathBuf,
}

/// A run's records and the features its replay predicts, on `seq`.
struct Replayed {
    measured: Vec<InvocationRecord>,
    predicted: BTreeMap<u64, features::Features>,
}

/// Replays `run`'s trace with `cost` (noise off: plans are deterministic)
/// and collects each invocation's features.
fn replay(
    run: &Run,
    cost: &sock_core::cost::CostParams,
) -> Result<BTreeMap<u64, features::Features>> {
    let settings = &run.settings;
    let (catalog, invocations) = crate::open_trace(&run.trace)?.into_parts();
    let tree = crate::settings::static_tree(settings)?;
    let options = sock_core::engine::EngineOptions::from_worker(&settings.worker);
    let mut cost = cost.clone();
    cost.noise = Default::default();
    let planner =
        sock_core::planner::Planner::new(&catalog, cost, settings.tiers.clone(), tree.as_ref())
            .context("invalid settings")?;
    features::collect(planner, options, invocations)
        .with_context(|| format!("replaying {}", run.trace.display()))
}

/// Every run's rows joined with its plans, and how many were left out.
fn join_all(replayed: &[Replayed]) -> (Vec<Joined<'_>>, usize) {
    let mut rows = Vec::new();
    let mut left_out = 0;
    for r in replayed {
        let (mut got, left) = join(&r.measured, &r.predicted);
        rows.append(&mut got);
        left_out += left;
    }
    (rows, left_out)
}

/// The whole command: runs in (one or more, of one host and one prior
/// calibration), fitted parameters out. Several runs are fitted as one
/// set of rows: a run with the Zygote tier off adds fresh starts (the
/// interpreter start), one with it on adds forks and spare hits.
pub fn calibrate(
    runs: &[Run],
    opts: FitOptions,
) -> Result<(CalibrationReport, sock_core::cost::CostParams)> {
    let first = runs.first().context("no run to fit on")?;
    // The prior's own noise, if any, is not part of the fit.
    let mut prior = first.settings.cost.clone();
    prior.noise = Default::default();
    let mut replayed = Vec::new();
    for run in runs {
        let measured = crate::compare::load_records(&run.measured)?;
        let predicted = replay(run, &prior)?;
        let (rows, _) = join(&measured, &predicted);
        if rows.is_empty() {
            anyhow::bail!(
                "none of the {} records of {} took the path the replay predicts (are the trace and settings those of the run?)",
                measured.len(),
                run.measured.display()
            );
        }
        replayed.push(Replayed {
            measured,
            predicted,
        });
    }
    let (rows, left_out) = join_all(&replayed);
    let fits = fit_all(&rows, &prior, opts);
    let mut fitted = models::apply(&prior, &fits);
    let mut noise_rows = Vec::new();
    if let Some(seed) = opts.noise_seed {
        let mut rows = Vec::new();
        let mut again = Vec::new();
        for run in runs {
            again.push(replay(run, &fitted)?);
        }
        for (r, predicted) in replayed.iter().zip(&again) {
            rows.extend(join(&r.measured, predicted).0);
        }
        let (params, rows) = noise::fit(&rows, seed);
        fitted.noise = params;
        noise_rows = rows;
    }
    let report = CalibrationReport {
        noise: noise_rows,
        runs: runs.len(),
        measured: replayed.iter().map(|r| r.measured.len()).sum(),
        joined: rows.len(),
        left_out,
        confidence: opts.confidence,
        estimator: opts.estimator,
        parameters: fits,
    };
    Ok((report, fitted))
}
