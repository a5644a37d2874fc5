//! `sim sweep`: one replay per configuration of a grid (axes of `sim`'s
//! own flags, crossed with one or more traces), run in parallel (rayon, one
//! replay per task, each trace parsed once and shared read-only), one row
//! per configuration with every summary metric, as CSV (and Parquet with
//! `--parquet`).
//!
//! Each finished point is appended to a journal beside the output
//! ([`journal`]), so a stopped sweep resumes where it was; `--shard I/N`
//! runs every N-th point, and `sim sweep merge` joins the shards' journals
//! into exactly the bytes one unsharded run writes ([`table`]).

pub mod grid;
pub mod journal;
pub mod parquet;
pub mod source;
pub mod summarize;
pub mod table;

use crate::output;
use crate::replay::{replay, ReplayOptions};
use crate::summary::{Summary, TraceInfo};
use anyhow::{bail, Context, Result};
use grid::{Axis, Point, Shard};
use journal::Row;
use rayon::prelude::*;
use sock_core::planner::Planner;
use sock_core::trace::{Catalog, Invocation};
use source::Source;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// What a sweep runs.
#[derive(Clone, Debug)]
pub struct SweepSpec {
    /// Trace files, then built or generated traces (one per seed).
    pub traces: Vec<Source>,
    pub axes: Vec<Axis>,
    /// Flags every point gets (before the axes' own).
    pub fixed: Vec<String>,
    pub out: PathBuf,
    /// Also write the table as Parquet here.
    pub parquet: Option<PathBuf>,
    pub shard: Option<Shard>,
    /// Worker threads (0: one per core).
    pub jobs: usize,
}

/// A trace read once, shared by every replay of it.
#[derive(Debug)]
pub struct Loaded {
    catalog: Catalog,
    invocations: Vec<Invocation>,
}

/// Reads (or builds, or generates) a trace whole, for replaying it many
/// times.
pub fn load(source: &Source) -> Result<Loaded> {
    let (catalog, invocations) = source.load()?;
    Ok(Loaded {
        catalog,
        invocations,
    })
}

/// One replayed point: its row (as the sweep table writes it) and the
/// replay's own measurements (histograms, per-function counts), for
/// callers that need more than the summary (`sim plan`'s bounds).
#[derive(Debug)]
pub struct Replayed {
    pub row: Row,
    pub stats: crate::stats::Stats,
}

/// One point's row: its index, trace, axis values, then the summary.
fn run_point(
    point: &Point,
    of: usize,
    settings: &crate::settings::Settings,
    trace: &Source,
    loaded: &Loaded,
    axes: &[Axis],
) -> Result<Replayed> {
    let tree = crate::settings::static_tree(settings)?;
    let planner = Planner::new(
        &loaded.catalog,
        settings.cost.clone(),
        settings.tiers.clone(),
        tree.as_ref(),
    )
    .with_context(|| format!("grid point {}: invalid settings", point.index))?;
    let options = ReplayOptions {
        engine: sock_core::engine::EngineOptions::from_worker(&settings.worker),
        serial_setup: settings.replay.serial_setup,
        ..ReplayOptions::default()
    };
    let stats = replay(
        planner,
        loaded.invocations.iter().copied().map(Ok),
        options,
        None,
    )
    .with_context(|| format!("grid point {} (sim {})", point.index, point.args.join(" ")))?;
    let info = TraceInfo {
        path: trace.label(),
        packages: loaded.catalog.package_count(),
        functions: loaded.catalog.function_count(),
        span_s: 0.0,
    };
    let summary = Summary::new(
        &stats,
        info,
        settings.worker.clone(),
        settings.tiers.clone(),
    );
    let mut columns = vec![
        ("point".to_string(), point.index.to_string()),
        ("trace".to_string(), trace.label()),
    ];
    if let Some(seed) = trace.seed() {
        columns.push(("seed".to_string(), seed.to_string()));
    }
    for (a, v) in axes.iter().zip(&point.values) {
        columns.push((a.flag.clone(), v.clone()));
    }
    columns.extend(table::flatten(&serde_json::to_value(&summary)?));
    Ok(Replayed {
        row: Row {
            point: point.index,
            of,
            args: point.args.clone(),
            columns,
        },
        stats,
    })
}

/// What [`replay_all`] replays: points of one grid (of `of` points in
/// all), each with its resolved settings, over `traces` (by the points'
/// `trace` index; `loaded[t]` must be there for every point of trace t).
#[derive(Debug)]
pub struct Batch<'a> {
    pub points: &'a [(&'a Point, &'a crate::settings::Settings)],
    pub of: usize,
    pub traces: &'a [Source],
    pub loaded: &'a [Option<Loaded>],
    pub axes: &'a [Axis],
}

/// Replays every point of `batch` in parallel on the current rayon pool;
/// `done` gets each as it finishes (in no fixed order). The in-memory
/// core of `sim sweep`, which journals each row, and of `sim plan`, which
/// keeps them.
pub fn replay_all(batch: &Batch<'_>, done: impl Fn(Replayed) -> Result<()> + Sync) -> Result<()> {
    batch.points.par_iter().try_for_each(|&(p, s)| {
        let trace = &batch.traces[p.trace];
        let Some(l) = batch.loaded.get(p.trace).and_then(Option::as_ref) else {
            bail!(
                "grid point {}: its trace {} is not loaded",
                p.index,
                trace.label()
            );
        };
        done(run_point(p, batch.of, s, trace, l, batch.axes)?)
    })
}

/// Runs the sweep; returns (rows written, rows run now).
pub fn run(spec: &SweepSpec) -> Result<(usize, usize)> {
    if spec.traces.is_empty() {
        bail!("no trace given: `sim sweep --trace T --axis FLAG=V1,V2 --out sweep.csv` (or --build ARGS / --gen ARGS with --seeds LIST)");
    }
    let labels: Vec<PathBuf> = spec.traces.iter().map(|t| t.label().into()).collect();
    let all = grid::points(&labels, &spec.axes, &spec.fixed)?;
    let of = all.len();
    let mine: Vec<&Point> = all
        .iter()
        .filter(|p| spec.shard.is_none_or(|s| s.holds(p.index)))
        .collect();
    // Every point is resolved before any replay: a bad value fails fast.
    let settings: Vec<crate::settings::Settings> = mine
        .iter()
        .map(|p| grid::settings(p))
        .collect::<Result<_>>()?;
    let inputs: Vec<output::Input> = spec
        .traces
        .iter()
        .filter_map(|t| t.file().map(|f| ("trace", f)))
        .collect();
    output::Output::new(&spec.out, &inputs)?;
    let jpath = journal::path_for(&spec.out);
    let mut done: std::collections::BTreeMap<usize, Row> = Default::default();
    for r in journal::read(&jpath)? {
        let Some(p) = all.get(r.point).filter(|_| r.of == of) else {
            bail!(
                "{}: point {} of a grid of {} points; this grid has {of}: another sweep's journal (remove it, or give another --out)",
                jpath.display(),
                r.point,
                r.of
            );
        };
        if p.args != r.args {
            bail!(
                "{}: point {} was `sim {}`, this grid's is `sim {}`: another sweep's journal (remove it, or give another --out)",
                jpath.display(),
                r.point,
                r.args.join(" "),
                p.args.join(" ")
            );
        }
        done.insert(r.point, r);
    }
    let todo: Vec<(usize, &Point)> = mine
        .iter()
        .enumerate()
        .filter(|(_, p)| !done.contains_key(&p.index))
        .map(|(i, p)| (i, *p))
        .collect();
    // Traces load (or build) in parallel too: a seed's trace is built in
    // memory, once, and shared by its points.
    let loaded: Vec<Option<Loaded>> = (0..spec.traces.len())
        .into_par_iter()
        .map(|t| {
            todo.iter()
                .any(|(_, p)| p.trace == t)
                .then(|| load(&spec.traces[t]))
                .transpose()
        })
        .collect::<Result<_>>()?;
    let progress = crate::progress::Progress::new("sim sweep", todo.len());
    let writer = Mutex::new(journal::Writer::open(&jpath)?);
    let fresh = Mutex::new(Vec::new());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(spec.jobs)
        .build()
        .context("cannot start the sweep's threads")?;
    let points: Vec<(&Point, &crate::settings::Settings)> =
        todo.iter().map(|&(i, p)| (p, &settings[i])).collect();
    let batch = Batch {
        points: &points,
        of,
        traces: &spec.traces,
        loaded: &loaded,
        axes: &spec.axes,
    };
    pool.install(|| {
        replay_all(&batch, |r| {
            writer.lock().expect("journal lock").append(&r.row)?;
            fresh.lock().expect("rows lock").push(r.row);
            progress.tick();
            Ok(())
        })
    })?;
    progress.finish();
    let ran = todo.len();
    let mut rows: Vec<Row> = done
        .into_values()
        .filter(|r| spec.shard.is_none_or(|s| s.holds(r.point)))
        .collect();
    rows.extend(fresh.into_inner().expect("rows lock"));
    rows.sort_by_key(|r| r.point);
    output::write_atomically::<_, anyhow::Error>(&spec.out, &inputs, |w| {
        Ok(table::write_csv(&rows, w)?)
    })?;
    if let Some(p) = &spec.parquet {
        parquet::write(&rows, p)?;
    }
    Ok((rows.len(), ran))
}

/// `sim sweep merge`: the shards' journals (or their CSV outputs, whose
/// journals sit beside them) joined into one table; every point of the
/// grid must be there.
pub fn merge(parts: &[PathBuf], out: &Path, parquet: Option<&Path>) -> Result<usize> {
    let mut rows = Vec::new();
    for p in parts {
        let j = if p.to_string_lossy().ends_with(".rows.jsonl") {
            p.clone()
        } else {
            journal::path_for(p)
        };
        if !j.exists() {
            bail!("{}: no such sweep journal (give the shards' --out files or their .rows.jsonl journals)", j.display());
        }
        rows.extend(journal::read(&j)?);
    }
    let rows = journal::join(rows)?;
    let Some(of) = rows.first().map(|r| r.of) else {
        bail!("the journals hold no rows");
    };
    let missing: Vec<usize> = (0..of)
        .filter(|i| rows.binary_search_by_key(i, |r| r.point).is_err())
        .collect();
    if let Some(first) = missing.first() {
        bail!(
            "{} of the grid's {of} points are in none of the journals (the first: point {first}); is a shard missing or unfinished?",
            missing.len()
        );
    }
    output::write_atomically::<_, anyhow::Error>(out, &[], |w| Ok(table::write_csv(&rows, w)?))?;
    if let Some(p) = parquet {
        parquet::write(&rows, p)?;
    }
    Ok(rows.len())
}
