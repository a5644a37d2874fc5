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
//! 5. `assign::assign`: one closure per app;
//! 6. `tables::packages`, `tables::functions`: the header's tables;
//! 7. write the header, then `arrivals::stream` the invocations minute by
//!    minute through `TraceWriter`.
//!
//! Determinism: the same inputs and `--seed` give a byte-identical trace.
//! Each random step has its own stream (closures = 1, durations = 2,
//! arrivals = 3; imputation is seeded per package key), so e.g. changing
//! `--arrivals` leaves the tables unchanged.

pub mod arrivals;
pub mod assign;
pub mod azure;
pub mod costs;
pub mod impute;
pub mod json;
pub mod requirements;
pub mod table;
pub mod tables;
pub mod warnings;

mod report;

pub use report::BuildReport;

use arrivals::ArrivalChoice;
use azure::{AzureInputs, DurationChoice};
use rand::rngs::StdRng;
use rand::SeedableRng;
use sock_core::trace::{TraceHeader, TraceWriter};
use std::collections::BTreeSet;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use warnings::{WarningKind, Warnings};

/// Parameters of `sim trace build` (recorded in the header's `source`).
#[derive(Debug, Clone, clap::Args, serde::Serialize)]
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
    /// How calls are placed within their minute.
    #[arg(long, value_enum, default_value = "uniform")]
    pub arrivals: ArrivalChoice,
    /// How a function's duration is taken from its durations row.
    #[arg(long, value_enum, default_value = "average")]
    pub duration: DurationChoice,
    /// The memory file's column to use (MB per app).
    #[arg(long, default_value = "AverageAllocatedMb")]
    pub memory_column: String,
    /// Keep Azure's memory even when it is below 10 MB plus the import
    /// memory of the function's closure.
    #[arg(long)]
    pub no_memory_floor: bool,
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
    let inputs = params.resolve()?;
    let mut warnings = Warnings::default();
    let azure_inputs = AzureInputs {
        invocations: &inputs.invocations,
        durations: &inputs.durations,
        memory: &inputs.memory,
        duration: params.duration,
        memory_column: &params.memory_column,
    };
    let slice = azure::load(
        &azure_inputs,
        &mut rng(params.seed, Stream::Durations),
        &mut warnings,
    )?;
    let closures = requirements::load(&inputs.requirements, &mut warnings)?;
    let measured = costs::load_measured(&inputs.install_import)?;
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
    let functions = tables::functions(
        &slice,
        &app_file,
        &table,
        !params.no_memory_floor,
        &mut counts,
    );
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
    let header = TraceHeader::new(table.packages, functions, report.source(params, &inputs)?);
    let mut writer = TraceWriter::new(BufWriter::with_capacity(1 << 20, out), &header)?;
    let mut arrivals_rng = rng(params.seed, Stream::Arrivals);
    arrivals::stream(
        &slice.minutes,
        &slice.counts,
        params.arrivals,
        &mut arrivals_rng,
        |inv| writer.write(inv),
    )?;
    report.span_us = last_time(&slice);
    writer.finish()?;
    Ok(report)
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
