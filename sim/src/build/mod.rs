//! `sim trace build`: a real trace from three public sources (documented,
//! with download links, in `traces/README.md` section 8).
//!
//! The steps of [`build`]:
//! 1. `resolve`: the input paths, from `--data` and the per-file flags;
//! 2. `azure::load`: invocation counts, durations and memory, joined per
//!    function (polars reads the CSVs);
//! 3. `requirements::load`: the pip-compiled closures;
//! 4. `costs::load_measured`, `costs::load_deps`: measured costs and
//!    observed dependency closures; `impute::Imputer` fits the model for
//!    the rest;
//! 5. `filter::drop_rare`: `--min-calls`; `assign::assign`: one closure
//!    per app;
//! 6. `per_app`: one trace function per Azure function, or per app;
//!    `tables::packages`, `tables::functions`: the header's tables;
//! 7. write the header, then `arrivals::stream` the invocations minute by
//!    minute, through `calls::CallShaper` (relabelling, per-call
//!    durations) and `TraceWriter`.
//!
//! The conventions (`conventions::Conventions`: a `--conventions` preset,
//! then each flag) decide steps 2, 5, 6 and 7.
//!
//! Determinism: the same inputs and `--seed` give a byte-identical trace.
//! Each random step has its own stream (closures = 1, durations = 2,
//! arrivals = 3, per-call durations = 4; imputation is seeded per package
//! key), so e.g. changing `--arrivals` leaves the tables unchanged.

pub mod arrivals;
pub mod assign;
pub mod azure;
pub mod calls;
pub mod conventions;
pub mod costs;
pub mod durations;
pub mod filter;
pub mod impute;
pub mod json;
pub mod per_app;
pub mod requirements;
pub mod table;
pub mod tables;
pub mod warnings;

mod report;

pub use report::BuildReport;

use arrivals::ArrivalChoice;
use azure::{AzureInputs, DurationChoice, DurationNeeds};
use conventions::{CallDurations, ColdDuration, Conventions, Instances, MemorySplit, Preset};
use rand::rngs::StdRng;
use rand::SeedableRng;
use sock_core::trace::{TraceHeader, TraceWriter};
use std::collections::BTreeSet;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use warnings::{WarningKind, Warnings};

/// Parameters of `sim trace build` (the conventions they resolve to are
/// recorded in the header's `source`). A convention left unset takes the
/// `--conventions` preset's value.
#[derive(Debug, Clone, Default, clap::Args, serde::Serialize)]
pub struct BuildParams {
    /// A folder laid out like the project's `../shared/data/`
    /// (azure-functions-2019/, github-requirements/, package-costs/); it
    /// supplies every input file not given by its own flag.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Which Azure slice of --data: invocations_<SLICE>.csv, durations_<SLICE>.csv, memory_<SLICE>.csv.
    #[arg(long, default_value = "500")]
    pub slice: String,
    /// Azure Functions 2019 per-minute invocation counts (invocations_*.csv).
    #[arg(long)]
    pub invocations: Option<PathBuf>,
    /// Azure Functions 2019 duration percentiles (durations_*.csv).
    #[arg(long)]
    pub durations: Option<PathBuf>,
    /// Azure Functions 2019 app memory (memory_*.csv / app_memory_*.csv).
    #[arg(long)]
    pub memory: Option<PathBuf>,
    /// pip-compiled closures: requirements_compiled.json.
    #[arg(long)]
    pub requirements: Option<PathBuf>,
    /// Measured package costs: install_import.json.
    #[arg(long)]
    pub install_import: Option<PathBuf>,
    /// Observed dependency closures: deps.json (optional: without it no
    /// package has dependency edges).
    #[arg(long)]
    pub deps: Option<PathBuf>,
    /// A bundle of conventions (traces/README.md 8.4); the flags below
    /// override it one by one.
    #[arg(long, value_enum, default_value = "sock")]
    pub conventions: Preset,
    /// How calls are placed within their minute [preset: uniform; faascache: even].
    #[arg(long, value_enum)]
    pub arrivals: Option<ArrivalChoice>,
    /// How a function's duration is taken from its durations row [preset: average].
    #[arg(long, value_enum)]
    pub duration: Option<DurationChoice>,
    /// How long a cold start's handler runs: as a warm one, or the
    /// durations file's Maximum [preset: average; faascache: maximum].
    #[arg(long, value_enum)]
    pub cold_duration: Option<ColdDuration>,
    /// Each call's own duration, drawn from its function's percentiles
    /// (trace format version 2) [preset: fixed; dslab: step].
    #[arg(long, value_enum)]
    pub call_durations: Option<CallDurations>,
    /// The memory file's column to use (MB per app) [preset:
    /// AverageAllocatedMb; dslab: AverageAllocatedMb_pct100].
    #[arg(long)]
    pub memory_column: Option<String>,
    /// A function's memory: its app's split evenly over the app's
    /// functions, or the app's whole [preset: even; dslab: whole].
    #[arg(long, value_enum)]
    pub memory_split: Option<MemorySplit>,
    /// Keep Azure's memory even when it is below 10 MB plus the import
    /// memory of the function's closure [preset: floor on; faascache, dslab: off].
    #[arg(long, conflicts_with = "memory_floor")]
    pub no_memory_floor: bool,
    /// Raise memory to the interpreter + imports floor even under a preset
    /// that turns it off.
    #[arg(long)]
    pub memory_floor: bool,
    /// One trace function per Azure function, or one per app whose
    /// instances serve all its functions [preset: per-function; dslab: per-app].
    #[arg(long, value_enum)]
    pub instances: Option<Instances>,
    /// Leave out functions called fewer than N times in the slice
    /// [preset: 0; faascache: 2].
    #[arg(long, value_name = "N")]
    pub min_calls: Option<u64>,
    /// Keep N functions, drawn at random (seeded) from those left after
    /// --min-calls: a small real trace that `sock-exec run` can install
    /// (pip, real PyPI packages) and serve.
    #[arg(long, value_name = "N")]
    pub functions: Option<usize>,
    /// Assign only closure files of at most K packages (bounds what a real
    /// run installs).
    #[arg(long, value_name = "K")]
    pub max_closure_packages: Option<usize>,
    /// Assign only closure files whose every package has measured costs in
    /// install_import.json (no imputed import or install time).
    #[arg(long)]
    pub measured_closures: bool,
    /// Cap every duration (average, maximum, percentiles) at MS: a real
    /// run executes each handler for its duration, so this bounds its wall
    /// time (start-up, before the handler, does not depend on it).
    #[arg(long, value_name = "MS")]
    pub max_duration_ms: Option<f64>,
    /// Seed of every random draw.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// The resolved input files.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Inputs {
    pub invocations: PathBuf,
    pub durations: PathBuf,
    pub memory: PathBuf,
    pub requirements: PathBuf,
    pub install_import: PathBuf,
    pub deps: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("no {what} file: give {flag} FILE, or --data DIR holding {default}")]
    MissingInput {
        what: &'static str,
        flag: &'static str,
        default: String,
    },
    #[error(transparent)]
    Azure(#[from] azure::AzureError),
    #[error(transparent)]
    Requirements(#[from] requirements::RequirementsError),
    #[error(transparent)]
    Costs(#[from] costs::CostsError),
    #[error(transparent)]
    Assign(#[from] assign::AssignError),
    #[error("{flag}: {why}")]
    BadFlag { flag: &'static str, why: String },
    #[error("{path}: no closure file is left by {filters}")]
    NoClosureFits { path: String, filters: String },
    #[error("writing the trace: {0}")]
    Write(#[from] std::io::Error),
    #[error("recording the parameters: {0}")]
    Source(#[from] serde_json::Error),
}

/// The RNG streams of the build's random steps.
#[derive(Debug, Clone, Copy)]
enum Stream {
    Closures = 1,
    Durations = 2,
    Arrivals = 3,
    Calls = 4,
    Sample = 5,
}

fn rng(seed: u64, stream: Stream) -> StdRng {
    StdRng::seed_from_u64(splitmix64(seed ^ splitmix64(stream as u64)))
}

/// SplitMix64's output function: spreads a seed over all 64 bits.
pub(crate) fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl BuildParams {
    /// The input files: each flag, else its place under `--data`.
    pub fn resolve(&self) -> Result<Inputs, BuildError> {
        let under = |rel: String| self.data.as_ref().map(|d| d.join(rel));
        let pick = |given: &Option<PathBuf>, what, flag, rel: String| {
            given
                .clone()
                .or_else(|| under(rel.clone()))
                .ok_or(BuildError::MissingInput {
                    what,
                    flag,
                    default: rel,
                })
        };
        let s = &self.slice;
        Ok(Inputs {
            invocations: pick(
                &self.invocations,
                "invocations",
                "--invocations",
                format!("azure-functions-2019/invocations_{s}.csv"),
            )?,
            durations: pick(
                &self.durations,
                "durations",
                "--durations",
                format!("azure-functions-2019/durations_{s}.csv"),
            )?,
            memory: pick(
                &self.memory,
                "memory",
                "--memory",
                format!("azure-functions-2019/memory_{s}.csv"),
            )?,
            requirements: pick(
                &self.requirements,
                "closures",
                "--requirements",
                "github-requirements/requirements_compiled.json".into(),
            )?,
            install_import: pick(
                &self.install_import,
                "package costs",
                "--install-import",
                "package-costs/install_import.json".into(),
            )?,
            deps: self
                .deps
                .clone()
                .or_else(|| under("package-costs/deps.json".into()).filter(|p| p.exists())),
        })
    }
}

/// Builds the trace and writes it to `out` (buffered here).
pub fn build<W: Write>(params: &BuildParams, out: W) -> Result<BuildReport, BuildError> {
    if let Some(ms) = params.max_duration_ms {
        if !(ms.is_finite() && ms > 0.0) {
            return Err(BuildError::BadFlag {
                flag: "--max-duration-ms",
                why: format!("{ms} is not a positive number of ms"),
            });
        }
    }
    if params.functions == Some(0) {
        return Err(BuildError::BadFlag {
            flag: "--functions",
            why: "0 functions make an empty trace".into(),
        });
    }
    let inputs = params.resolve()?;
    let conv = Conventions::resolve(params);
    let mut warnings = Warnings::default();
    let azure_inputs = AzureInputs {
        invocations: &inputs.invocations,
        durations: &inputs.durations,
        memory: &inputs.memory,
        duration_needs: DurationNeeds {
            choice: conv.duration,
            maximum: conv.cold_duration == ColdDuration::Maximum,
            percentiles: conv.call_durations != CallDurations::Fixed,
        },
        memory_column: &conv.memory_column,
    };
    let mut slice = azure::load(
        &azure_inputs,
        &mut rng(params.seed, Stream::Durations),
        &mut warnings,
    )?;
    let mut left_out = filter::drop_rare(&mut slice, conv.min_calls);
    if let Some(n) = params.functions {
        let more = filter::sample(&mut slice, n, &mut rng(params.seed, Stream::Sample));
        left_out.functions += more.functions;
        left_out.invocations += more.invocations;
    }
    let durations_capped = match params.max_duration_ms {
        Some(ms) => filter::cap_durations(&mut slice, ms),
        None => 0,
    };
    let mut closures = requirements::load(&inputs.requirements, &mut warnings)?;
    let measured = costs::load_measured(&inputs.install_import)?;
    restrict_closures(params, &mut closures.files, &measured, &inputs.requirements)?;
    for (key, module) in &measured.bad_modules {
        let detail = format!("{key}: `top` entry {module:?} is not a dotted Python identifier");
        warnings.push(
            WarningKind::BadModule,
            &inputs.install_import.display().to_string(),
            None,
            detail,
        );
    }
    let deps = match &inputs.deps {
        Some(p) => costs::load_deps(p)?,
        None => Default::default(),
    };
    let imputer = impute::Imputer::new(&measured.costs, params.seed);
    let apps = slice.apps();
    let source_name = inputs.requirements.display().to_string();
    let app_file = assign::assign(
        &apps,
        &closures.files,
        &source_name,
        &mut rng(params.seed, Stream::Closures),
    )?;
    let used: BTreeSet<usize> = app_file.values().copied().collect();
    let mut counts = tables::TableCounts::default();
    let table = tables::packages(&closures.files, &used, &imputer, &deps, &mut counts);
    let grouping = match conv.instances {
        Instances::PerFunction => per_app::per_function(&slice),
        Instances::PerApp => per_app::per_app(&slice),
    };
    let memory = (conv.memory_split, conv.memory_floor);
    let functions = tables::functions(&grouping.functions, &app_file, &table, memory, &mut counts);
    let mut report = BuildReport::new(
        &slice,
        apps.len(),
        &closures,
        used.len(),
        counts,
        &measured,
        &imputer,
        warnings,
    );
    report.left_out = left_out;
    report.durations_capped = durations_capped;
    report.trace_functions = functions.len();
    let mut shaper = calls::CallShaper::new(
        &slice,
        &grouping,
        conv.call_durations,
        rng(params.seed, Stream::Calls),
    );
    let source = report.source(params, &conv, &inputs)?;
    let mut header = TraceHeader::new(table.packages, functions, source);
    if shaper.has_durations() {
        header = header.with_invocation_durations();
    }
    let mut writer = TraceWriter::new(BufWriter::with_capacity(1 << 20, out), &header)?;
    let mut arrivals_rng = rng(params.seed, Stream::Arrivals);
    arrivals::stream(
        &slice.minutes,
        &slice.counts,
        conv.arrivals,
        &mut arrivals_rng,
        |inv| writer.write(shaper.shape(inv)),
    )?;
    report.span_us = last_time(&slice);
    writer.finish()?;
    Ok(report)
}

/// `--max-closure-packages` and `--measured-closures`: drops the closure
/// files an app may not get (before assignment, so the draw is over the
/// files that are left).
fn restrict_closures(
    params: &BuildParams,
    files: &mut Vec<requirements::ClosureFile>,
    measured: &costs::Measured,
    path: &Path,
) -> Result<(), BuildError> {
    if params.max_closure_packages.is_none() && !params.measured_closures {
        return Ok(());
    }
    files.retain(|f| {
        params
            .max_closure_packages
            .is_none_or(|k| f.packages.len() <= k)
            && (!params.measured_closures
                || f.packages.iter().all(|r| measured.costs.contains_key(r)))
    });
    if files.is_empty() {
        let mut filters = Vec::new();
        if let Some(k) = params.max_closure_packages {
            filters.push(format!("--max-closure-packages {k}"));
        }
        if params.measured_closures {
            filters.push("--measured-closures".to_string());
        }
        return Err(BuildError::NoClosureFits {
            path: path.display().to_string(),
            filters: filters.join(" and "),
        });
    }
    Ok(())
}

/// The end of the last minute column (the trace's span).
fn last_time(slice: &azure::AzureSlice) -> u64 {
    match (slice.minutes.first(), slice.minutes.last()) {
        (Some(&a), Some(&b)) => u64::from(b - a + 1) * arrivals::MINUTE_US,
        _ => 0,
    }
}

/// The file name of `p`, for provenance that does not depend on where the
/// inputs live.
fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}
