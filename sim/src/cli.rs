//! Command-line interface of `sim` (clap derive).

use crate::build::BuildParams;
use crate::gen::GenParams;
use crate::study::StudyParams;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "sim",
    version,
    about = "Replay a serverless trace against SOCK's three-tier cache (handler cache, Zygote tree, install cache)",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Make and inspect traces.
    Trace {
        #[command(subcommand)]
        command: TraceCommand,
    },
    /// Compare predicted records (`sim --records`) with measured ones
    /// (`sock-exec run --records`), matched by seq: decision agreement,
    /// path confusion table, latency error per path and phase.
    Compare(CompareArgs),
    /// Fit the cost model's parameters to a run's measured records
    /// (`sock-exec run --records`): median regression (or least squares)
    /// per phase, each parameter with its confidence interval; writes a
    /// calibration file.
    Calibrate(CalibrateArgs),
    /// Replay a grid of configurations (axes of sim's own flags) on one or
    /// more traces in parallel: one CSV row per configuration with every
    /// summary metric; resumable, shardable (`sim sweep merge`).
    Sweep(SweepArgs),
    /// The handler tier's cold-start curve against memory: the tier alone
    /// replayed per point (exact for --policy lru --zygotes off, unbounded
    /// worker and cores; see sim/src/mrc/mod.rs).
    Mrc(MrcArgs),
    /// Size a worker for service-level objectives: the least memory, then
    /// fewest cores, whose replays meet every `--slo` at a confidence
    /// level; writes it as a settings file (`sim --config`, `sock-exec
    /// run --config`).
    Plan(crate::plan::PlanArgs),
    /// Capacity-planning plots (SVG or PNG) of a sweep CSV, `sim --records`
    /// or `sim --memory-series`: cold starts against memory, a Pareto
    /// front, start-up CDFs, phase bars, memory over time, heat maps.
    Plot(crate::plot::PlotArgs),
}

/// `sim mrc` options.
#[derive(Debug, Args)]
pub struct MrcArgs {
    /// The trace.
    #[arg(long)]
    pub trace: PathBuf,
    /// Memories (MB), comma-separated; overrides the linear grid.
    #[arg(long, value_delimiter = ',')]
    pub mb: Vec<f64>,
    #[arg(long, default_value_t = 256.0)]
    pub mb_from: f64,
    #[arg(long, default_value_t = 8192.0)]
    pub mb_to: f64,
    #[arg(long, default_value_t = 32)]
    pub points: usize,
    /// SHARDS sampling rate of functions, in (0, 1].
    #[arg(long, default_value_t = 1.0)]
    pub sample_rate: f64,
    /// One Mattson-style stack pass (historic-max depths) instead of the
    /// per-point replay of the handler tier: faster, not exact (the tier
    /// breaks the inclusion property; sim/src/mrc/mod.rs).
    #[arg(long)]
    pub one_pass: bool,
    /// Also write the curve as CSV (memory_mb,cold_pct).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// JSON on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// `sim sweep` options.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SweepArgs {
    #[command(subcommand)]
    pub command: Option<SweepCommand>,
    #[command(flatten)]
    pub traces: crate::sweep::source::TraceSources,
    /// An axis: a sim flag without its dashes and its values, e.g.
    /// `worker-mb=1024,2048,4096` or `policy=ttl,lru,gdsf` (repeatable; the
    /// last varies fastest).
    #[arg(long, value_name = "FLAG=V1,V2,...")]
    pub axis: Vec<crate::sweep::grid::Axis>,
    /// The CSV to write; its journal (`OUT.rows.jsonl`) sits beside it.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also write the table as Parquet (typed columns) to this file.
    #[arg(long)]
    pub parquet: Option<PathBuf>,
    /// Run only the points whose index is I modulo N (0 <= I < N); `env/N`
    /// takes I from JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Worker threads (default: one per core).
    #[arg(long, default_value_t = 0)]
    pub jobs: usize,
    /// Flags every point gets, after `--`, e.g. `-- --zygotes off --cores unbounded`.
    #[arg(last = true)]
    pub fixed: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum SweepCommand {
    /// Join the shards' journals into the table one unsharded run writes.
    Merge {
        /// The shards' `--out` files (or their `.rows.jsonl` journals).
        #[arg(required = true)]
        parts: Vec<PathBuf>,
        /// The CSV to write.
        #[arg(long)]
        out: PathBuf,
        /// Also write the table as Parquet to this file.
        #[arg(long)]
        parquet: Option<PathBuf>,
    },
    /// Group a sweep table's rows by configuration (every axis but `trace`
    /// and `seed`) and give each metric its mean and a two-sided Student's t
    /// confidence interval over the rows (n = 1: no interval).
    Summarize {
        /// The sweep CSV (`sim sweep --out`).
        #[arg(long = "in")]
        input: PathBuf,
        /// The summary CSV to write: axes, metric, n, mean, sd, lo, hi.
        #[arg(long)]
        out: PathBuf,
        /// Confidence level of the intervals.
        #[arg(long, default_value_t = 0.95, value_parser = parse_confidence)]
        confidence: f64,
    },
}

/// `sim calibrate` options.
#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// Measured records of a run (JSON Lines, `sock-exec run --records`).
    /// Repeat it to fit one set of host terms on several runs of the same
    /// host (e.g. one with the Zygote tier on and one with it off, so the
    /// interpreter start is fitted too).
    #[arg(long, required = true)]
    pub from: Vec<PathBuf>,
    /// The trace the run replayed: once (every run) or once per `--from`,
    /// in the same order.
    #[arg(long, required = true)]
    pub trace: Vec<PathBuf>,
    /// The run's settings file, if it had one: none, once (every run) or
    /// once per `--from`, in the same order.
    #[arg(long)]
    pub config: Vec<PathBuf>,
    /// The runs' calibration file (the prior; defaults otherwise).
    #[arg(long)]
    pub calibration: Option<PathBuf>,
    /// Where to write the fitted calibration file (the `cost` object).
    #[arg(long)]
    pub out: PathBuf,
    /// Confidence level of the intervals.
    #[arg(long, default_value_t = 0.95, value_parser = parse_confidence)]
    pub confidence: f64,
    /// What each phase's fit minimises: `median` (least absolute
    /// deviations; what `sim compare` reports) or `mean` (least squares).
    #[arg(long, value_enum, default_value = "median")]
    pub fit: crate::calibrate::Estimator,
    /// Leave the noise block out of the file (then `sim` predicts one
    /// value per phase, as before).
    #[arg(long)]
    pub no_noise: bool,
    /// Seed written into the noise block (the replay's generator).
    #[arg(long, default_value_t = 1)]
    pub noise_seed: u64,
    /// Report format on stdout.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

fn parse_confidence(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v > 0.0 && v < 1.0 => Ok(v),
        _ => Err(format!(
            "{s:?}: expected a confidence level in (0, 1), e.g. 0.95"
        )),
    }
}

/// `sim compare` options.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Records predicted by the simulator (JSON Lines, `sim --records`).
    #[arg(long)]
    pub predicted: PathBuf,
    /// Records measured by the executor (JSON Lines, same schema).
    #[arg(long)]
    pub measured: PathBuf,
    /// Report format on stdout.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Also write the per-path, per-phase error table to this CSV file.
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Exit non-zero (after the report) when any path's phase has a median
    /// relative error above PCT percent (for scripts and CI).
    #[arg(long, value_name = "PCT", value_parser = parse_pct)]
    pub max_median_error: Option<f64>,
    /// Exit non-zero (after the report) when any path's phase has a 95th
    /// percentile relative error above PCT percent.
    #[arg(long, value_name = "PCT", value_parser = parse_pct)]
    pub max_p95_error: Option<f64>,
    /// Exit non-zero (after the report) when any path's phase has its
    /// predicted median more than PCT percent from the measured median
    /// (a distribution's error, not a per-record one).
    #[arg(long, value_name = "PCT", value_parser = parse_pct)]
    pub max_p50_shift: Option<f64>,
    /// The same for the 95th percentile.
    #[arg(long, value_name = "PCT", value_parser = parse_pct)]
    pub max_p95_shift: Option<f64>,
    /// Exit non-zero (after the report) when decision agreement is below
    /// PCT percent.
    #[arg(long, value_name = "PCT", value_parser = parse_pct)]
    pub min_agreement: Option<f64>,
}

/// A percentage: a finite number >= 0.
fn parse_pct(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!(
            "{s:?}: expected a percentage, a finite number >= 0"
        )),
    }
}

#[derive(Debug, Subcommand)]
pub enum TraceCommand {
    /// Write a synthetic trace (documented model: traces/README.md).
    Gen {
        #[command(flatten)]
        params: GenParams,
        /// Output file ("-" for stdout).
        #[arg(long, short)]
        out: PathBuf,
    },
    /// Build a real trace from the Azure Functions 2019 trace, pip-compiled
    /// GitHub closures and measured package costs (traces/README.md, section 8).
    Build {
        #[command(flatten)]
        params: BuildParams,
        /// Output file ("-" for stdout).
        #[arg(long, short)]
        out: PathBuf,
    },
    /// The package study (SOCK section 3) of a trace: text tables on stdout,
    /// plots (PNG, SVG) and CSV tables in an output folder.
    Stats {
        #[command(flatten)]
        params: StudyParams,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PolicyArg {
    Lru,
    /// Idle timeout, reset on reuse (--ttl-s, default 600).
    Ttl,
    /// Greedy-Dual-Size-Frequency (--gdsf-cost).
    Gdsf,
    /// Fixed lifetime after first idle, not extended by reuse (--lifetime-s, default 600).
    Fixed,
    /// Hybrid Histogram with pre-warming (Serverless in the Wild).
    Hybrid,
}

/// GDSF's cost term.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GdsfCostArg {
    /// A cold start's cost (default).
    Cold,
    /// A cold call's latency minus a warm one's (FaasCache).
    ColdMinusWarm,
}

/// When an idle handler's keep-alive clock starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum KeepaliveFromArg {
    /// At the end of the call it served (SOCK, dslab, Serverless in the Wild).
    End,
    /// At the start of the call it served (FaasCache's `last_access_t`).
    Start,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ZygoteArg {
    /// No Zygotes: fresh interpreters only.
    Off,
    /// Only the bare root Zygote.
    Root,
    /// SOCK's tree, grown on demand.
    Dynamic,
    /// A fixed tree from --zygote-tree.
    Static,
}

/// Replay options. Flags override the config and calibration files.
#[derive(Debug, Default, Args)]
pub struct RunArgs {
    /// Trace file to replay (format: traces/README.md).
    #[arg(long)]
    pub trace: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Option<Format>,
    /// Write one JSON record per invocation to this file.
    #[arg(long)]
    pub records: Option<PathBuf>,
    /// Write each tier's memory over time to this CSV file (t_s,
    /// handler_mb, ..., at most 10k rows; `sim plot memory`).
    #[arg(long, value_name = "FILE.csv")]
    pub memory_series: Option<PathBuf>,
    /// JSON config file: {"worker": .., "tiers": .., "cost": .., "zygote_tree": ..}.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Cost parameters measured by `sock-exec calibrate` (JSON).
    #[arg(long)]
    pub calibration: Option<PathBuf>,
    /// Handler cache budget for paused instances (MB); 0 turns it off.
    #[arg(long)]
    pub handler_mb: Option<f64>,
    /// Handler keep-alive policy.
    #[arg(long, value_enum)]
    pub policy: Option<PolicyArg>,
    /// Keep-alive of the ttl policy (s).
    #[arg(long)]
    pub ttl_s: Option<f64>,
    /// Lifetime of the fixed policy after first idle (s; default 600).
    #[arg(long)]
    pub lifetime_s: Option<f64>,
    /// GDSF's cost term (gdsf policy; default cold).
    #[arg(long, value_enum)]
    pub gdsf_cost: Option<GdsfCostArg>,
    #[command(flatten)]
    pub hybrid: HybridArgs,
    /// When an idle handler's keep-alive clock starts: the end of its call
    /// (default) or its start (FaasCache); tiers.handler.keepalive_from.
    #[arg(long, value_enum)]
    pub keepalive_from: Option<KeepaliveFromArg>,
    /// Import cache (Zygote) mode.
    #[arg(long, value_enum)]
    pub zygotes: Option<ZygoteArg>,
    /// Zygote tree memory budget (MB).
    #[arg(long)]
    pub zygote_mb: Option<f64>,
    /// Static tree in OpenLambda's JSON format (implies --zygotes static).
    #[arg(long)]
    pub zygote_tree: Option<PathBuf>,
    /// Smallest import time a new Zygote must save (ms).
    #[arg(long)]
    pub min_gain_ms: Option<f64>,
    /// Pre-forked children each Zygote keeps ready (0: fork on every hit).
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=sock_core::config::MAX_SPARES as i64))]
    pub spares: Option<u32>,
    /// Install cache disk budget (MB); 0 turns it off.
    #[arg(long)]
    pub install_mb: Option<f64>,
    /// Worker memory for every sandbox (busy and idle handlers, Zygotes),
    /// in MB, or `unbounded` (default 32768).
    #[arg(long, value_parser = parse_bound::<f64>)]
    pub worker_mb: Option<Bound<f64>>,
    /// Calls running at once, or `unbounded` (default 32); the rest queue
    /// FIFO. `--max-concurrency` is its old name.
    #[arg(long, alias = "max-concurrency", value_parser = parse_bound::<usize>)]
    pub cores: Option<Bound<usize>>,
    /// What a call that does not fit in memory does (default queue).
    #[arg(long, value_enum)]
    pub when_full: Option<WhenFullArg>,
    /// Longest queue wait before a call is dropped (s), or `unbounded`
    /// (default 60).
    #[arg(long, value_parser = parse_bound::<f64>)]
    pub max_wait_s: Option<Bound<f64>>,
    /// Ignore the calibration's noise block: one value per phase.
    #[arg(long)]
    pub no_noise: bool,
    /// Seed of the noise generator (default: the calibration's).
    #[arg(long)]
    pub noise_seed: Option<u64>,
    /// Set containers up one at a time, as `sock-exec run --concurrent`'s
    /// one loop does: a call due while another is thawed, forked, cloned
    /// or a Zygote started waits, in its `queue` phase
    /// (sim/src/setup_loop.rs). Off: set-ups overlap freely.
    #[arg(long)]
    pub serial_setup: bool,
}

/// A worker limit: a number, or `unbounded`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Bound<T> {
    At(T),
    Unbounded,
}

impl<T> Bound<T> {
    pub fn into_option(self) -> Option<T> {
        match self {
            Bound::At(v) => Some(v),
            Bound::Unbounded => None,
        }
    }
}

fn parse_bound<T: std::str::FromStr>(s: &str) -> Result<Bound<T>, String>
where
    T::Err: std::fmt::Display,
{
    if s == "unbounded" {
        return Ok(Bound::Unbounded);
    }
    s.parse()
        .map(Bound::At)
        .map_err(|e| format!("{e} (a number, or `unbounded`)"))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum WhenFullArg {
    /// Wait FIFO for memory, at most --max-wait-s.
    Queue,
    /// Drop the call at once (FaasCache).
    Drop,
}

/// Parameters of the hybrid policy (defaults: `sock_core::handler_cache::HybridConfig`).
#[derive(Args, Clone, Debug, Default)]
pub struct HybridArgs {
    /// Histogram range in one-minute bins (default 240: 4 h).
    #[arg(long)]
    pub hybrid_range_min: Option<u32>,
    /// Percentile giving the pre-warm window (default 5).
    #[arg(long)]
    pub prewarm_pct: Option<f64>,
    /// Percentile giving the keep-alive window (default 99).
    #[arg(long)]
    pub keepalive_pct: Option<f64>,
    /// Margin: pre-warm shrinks, keep-alive grows by it (%; default 10).
    #[arg(long)]
    pub margin_pct: Option<f64>,
    /// Fewest idle times for a representative histogram (default 10).
    #[arg(long)]
    pub min_samples: Option<u64>,
    /// Smallest CV of bin counts for a representative histogram (default 2).
    #[arg(long)]
    pub cv_min: Option<f64>,
    /// Keep-alive while not representative (s; default 14400).
    #[arg(long)]
    pub fallback_s: Option<f64>,
}

impl HybridArgs {
    pub fn any(&self) -> bool {
        self.hybrid_range_min.is_some()
            || self.prewarm_pct.is_some()
            || self.keepalive_pct.is_some()
            || self.margin_pct.is_some()
            || self.min_samples.is_some()
            || self.cv_min.is_some()
            || self.fallback_s.is_some()
    }
}
