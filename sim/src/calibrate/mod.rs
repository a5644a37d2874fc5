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
//! | transport (all) | `t + c·[cold start]` | `transport_ms`, `transport_cold_ms` |
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

/// The whole command: settings and trace in, fitted parameters out.
pub fn calibrate(
    trace: &std::path::Path,
    settings: &sock_core::config::Settings,
    measured_path: &std::path::Path,
    opts: FitOptions,
) -> Result<(CalibrationReport, sock_core::cost::CostParams)> {
    let measured = crate::compare::load_records(measured_path)?;
    let (catalog, invocations) = crate::open_trace(trace)?.into_parts();
    let tree = crate::settings::static_tree(settings)?;
    let options = sock_core::engine::EngineOptions::from_worker(&settings.worker);
    // The prior's own noise, if any, is not part of the fit: plans are
    // replayed deterministically.
    let mut prior = settings.cost.clone();
    prior.noise = Default::default();
    let replay = |cost: sock_core::cost::CostParams,
                  invocations: sock_core::trace::Invocations<std::io::BufReader<std::fs::File>>|
     -> Result<BTreeMap<u64, features::Features>> {
        let planner =
            sock_core::planner::Planner::new(&catalog, cost, settings.tiers.clone(), tree.as_ref())
                .context("invalid settings")?;
        features::collect(planner, options, invocations)
    };
    let predicted = replay(prior.clone(), invocations)?;
    let (rows, left_out) = join(&measured, &predicted);
    if rows.is_empty() {
        anyhow::bail!(
            "none of the {} records of {} took the path the replay predicts (are the trace and settings those of the run?)",
            measured.len(),
            measured_path.display()
        );
    }
    let fits = fit_all(&rows, &prior, opts);
    let mut fitted = models::apply(&prior, &fits);
    let mut noise_rows = Vec::new();
    if let Some(seed) = opts.noise_seed {
        let again = replay(fitted.clone(), crate::open_trace(trace)?.into_parts().1)?;
        let (params, rows) = noise::fit(&join(&measured, &again).0, seed);
        fitted.noise = params;
        noise_rows = rows;
    }
    let report = CalibrationReport {
        noise: noise_rows,
        measured: measured.len(),
        joined: rows.len(),
        left_out,
        confidence: opts.confidence,
        estimator: opts.estimator,
        parameters: fits,
    };
    Ok((report, fitted))
}
