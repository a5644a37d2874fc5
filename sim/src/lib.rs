//! # sock-sim
//!
//! The simulator half: replays a trace against the sock-core planner in
//! virtual time and reports what each tier did.
//!
//! - [`cli`]: the command line (`sim --trace ...`, `sim trace gen ...`).
//! - [`settings`]: config file, calibration file and flags, merged.
//! - [`replay`]: the discrete-event engine (streams the trace).
//! - [`stats`], [`histogram`]: what a replay measures, in bounded memory.
//! - [`summary`]: the report, as text or JSON.
//! - [`gen`]: the synthetic trace generator.
//! - [`build`]: `sim trace build`, real traces from the Azure Functions 2019
//!   trace, pip-compiled GitHub closures and measured package costs.
//! - [`study`]: `sim trace stats`, the package study of SOCK section 3.
//! - [`compare`]: `sim compare`, predicted records against measured ones.

pub mod build;
pub mod cli;
pub mod compare;
pub mod gen;
pub mod histogram;
pub mod replay;
pub mod settings;
pub mod stats;
pub mod study;
pub mod summary;

use anyhow::{Context, Result};
use settings::Settings;
use sock_core::planner::Planner;
use sock_core::trace::TraceReader;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;
use summary::{Summary, TraceInfo};

/// Replays the trace at `trace` with `settings`; writes per-invocation
/// records to `records` when given.
pub fn simulate(trace: &Path, settings: &Settings, records: Option<&Path>) -> Result<Summary> {
    let file =
        File::open(trace).with_context(|| format!("cannot open trace {}", trace.display()))?;
    let reader = TraceReader::new(
        BufReader::with_capacity(1 << 20, file),
        trace.display().to_string(),
    )?;
    let (catalog, invocations) = reader.into_parts();
    let tree = settings::static_tree(settings)?;
    let mut planner = Planner::new(
        &catalog,
        settings.cost.clone(),
        settings.tiers.clone(),
        tree.as_ref(),
    )
    .context("invalid settings")?;
    let options = replay::ReplayOptions {
        max_concurrency: settings.replay.max_concurrency,
    };
    let mut sink = match records {
        Some(p) => Some(BufWriter::new(File::create(p).with_context(|| {
            format!("cannot create records file {}", p.display())
        })?)),
        None => None,
    };
    let stats = replay::replay(
        &mut planner,
        invocations,
        options,
        sink.as_mut().map(|w| w as &mut dyn Write),
    )?;
    if let Some(mut w) = sink {
        w.flush().context("writing records")?;
    }
    let info = TraceInfo {
        path: trace.display().to_string(),
        packages: catalog.package_count(),
        functions: catalog.function_count(),
        span_s: 0.0,
    };
    Ok(Summary::new(&stats, info, settings.tiers.clone()))
}
