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
//! - [`calibrate`]: `sim calibrate`, cost parameters fitted to a run's
//!   measured records (least squares, confidence intervals).
//! - [`compare`]: `sim compare`, predicted records against measured ones;
//!   [`record_check`]: that matched records are the same invocation.
//! - [`mrc`]: `sim mrc`, the handler tier's cold-start curve against
//!   memory in one pass (Mattson stack distances, SHARDS sampling).
//! - [`plan`]: `sim plan`, the smallest worker meeting service-level
//!   objectives at a confidence level, written as a settings file.
//! - [`plot`]: `sim plot`, capacity-planning plots (SVG, PNG) of a sweep,
//!   records or a memory series; [`memory_series`]: `sim --memory-series`;
//!   [`csv_table`]: the CSV reader of `sim plot` and `sim sweep summarize`.
//! - [`output`]: output files written whole or not at all, never over an
//!   input.

pub mod build;
pub mod calibrate;
pub mod cli;
pub mod compare;
pub mod csv_table;
pub mod gen;
pub mod histogram;
pub mod memory_series;
pub mod mrc;
pub mod output;
pub mod plan;
pub mod plot;
pub mod progress;
pub mod record_check;
pub mod replay;
pub mod settings;
pub mod setup_loop;
pub mod stats;
pub mod stats_ci;
pub mod study;
pub mod summary;
pub mod sweep;

use anyhow::{Context, Result};
use settings::Settings;
use sock_core::planner::Planner;
use sock_core::trace::TraceReader;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;
use summary::{Summary, TraceInfo};

/// Replays the trace at `trace` with `settings`; writes per-invocation
/// records to `records` when given (whole or not at all, see [`output`]).
/// Warnings about the static tree go to stderr, once each.
/// Opens a trace file for reading (1 MiB buffer); errors name the file.
pub fn open_trace(trace: &Path) -> Result<TraceReader<BufReader<File>>> {
    let file =
        File::open(trace).with_context(|| format!("cannot open trace {}", trace.display()))?;
    Ok(TraceReader::new(
        BufReader::with_capacity(1 << 20, file),
        trace.display().to_string(),
    )?)
}

pub fn simulate(trace: &Path, settings: &Settings, records: Option<&Path>) -> Result<Summary> {
    simulate_with(
        trace,
        settings,
        Outputs {
            records,
            memory_series: None,
        },
    )
}

/// The files a replay writes besides its summary.
#[derive(Clone, Copy, Debug, Default)]
pub struct Outputs<'a> {
    /// Per-invocation records (JSON Lines).
    pub records: Option<&'a Path>,
    /// Each tier's memory over time (CSV, [`memory_series`]).
    pub memory_series: Option<&'a Path>,
}

/// [`simulate`], writing every file of `outputs` (each whole or not at all).
pub fn simulate_with(trace: &Path, settings: &Settings, outputs: Outputs<'_>) -> Result<Summary> {
    let records = outputs.records;
    let mut checked = settings.clone();
    checked.check()?;
    let settings = &checked;
    let mut inputs: Vec<output::Input> = vec![("trace", trace)];
    if let Some(t) = &settings.zygote_tree {
        inputs.push(("Zygote tree file", t));
    }
    // Checked before the replay, so a bad path fails fast.
    let out = records
        .map(|p| output::Output::new(p, &inputs))
        .transpose()?;
    let series_out = outputs
        .memory_series
        .map(|p| output::Output::new(p, &inputs))
        .transpose()?;
    let (catalog, invocations) = open_trace(trace)?.into_parts();
    let tree = settings::static_tree(settings)?;
    let planner = Planner::new(
        &catalog,
        settings.cost.clone(),
        settings.tiers.clone(),
        tree.as_ref(),
    )
    .context("invalid settings")?;
    if let Some(t) = &settings.zygote_tree {
        for w in planner.tree_warnings() {
            eprintln!("sim: warning: {}: {w}", t.display());
        }
    }
    let options = replay::ReplayOptions {
        engine: sock_core::engine::EngineOptions::from_worker(&settings.worker),
        memory_series: series_out.is_some(),
        serial_setup: settings.replay.serial_setup,
        ..replay::ReplayOptions::default()
    };
    let mut sink = match &out {
        Some(o) => Some(BufWriter::new(o.create()?)),
        None => None,
    };
    let stats = replay::replay(
        planner,
        invocations,
        options,
        sink.as_mut().map(|w| w as &mut dyn Write),
    )?;
    if let (Some(mut w), Some(o)) = (sink, out) {
        w.flush().map_err(|e| o.write_err(e))?;
        drop(w);
        o.commit()?;
    }
    if let (Some(series), Some(o)) = (&stats.memory_series, series_out) {
        let mut w = BufWriter::new(o.create()?);
        series
            .write_csv(&mut w)
            .and_then(|()| w.flush())
            .map_err(|e| o.write_err(e))?;
        drop(w);
        o.commit()?;
    }
    let info = TraceInfo {
        path: trace.display().to_string(),
        packages: catalog.package_count(),
        functions: catalog.function_count(),
        span_s: 0.0,
    };
    Ok(Summary::new(
        &stats,
        info,
        settings.worker.clone(),
        settings.tiers.clone(),
    ))
}
