//! Command-line interface of `sock-exec` (clap derive).

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "sock-exec",
    version,
    about = "SOCK-style lean containers on this host: base image, lifecycle, benchmarks"
)]
pub struct Cli {
    /// State folder: base image, container folders.
    #[arg(long, global = true, default_value = "/var/lib/sock-exec")]
    pub state: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Report what this host offers: cgroup layout, root, Python.
    Host,
    /// Build (or reuse) the read-only base image with debootstrap.
    Base {
        /// Rebuild even if a complete image exists.
        #[arg(long)]
        rebuild: bool,
        #[arg(long, default_value = "http://deb.debian.org/debian")]
        mirror: String,
    },
    /// Create a lean container for a handler folder, invoke it once, destroy it.
    Invoke {
        /// Folder holding f.py with `def f(event)`.
        #[arg(long)]
        handler: PathBuf,
        /// The JSON event.
        #[arg(long, default_value = "{}")]
        event: String,
        #[arg(long, default_value_t = 30.0)]
        timeout_s: f64,
    },
    /// Replay a trace on real lean containers, Zygotes and an install
    /// cache, driven by the sock-core planner; writes measured records in
    /// `sim --records`'s schema (compare them with `sim compare`).
    Run(RunArgs),
    /// Install packages (`name==version`) into an install cache folder:
    /// a wheel for the containers' Python when one exists, else built from
    /// source in a lean container. Prints each package's modules and time.
    Install(InstallArgs),
    /// Make local wheels standing in for a trace's packages (offline runs):
    /// each imports in the trace's import_ms, holds import_mb, and imports
    /// its dependencies first.
    Packages(PackagesArgs),
    /// Measure the cost model's parameters on this host and write the
    /// calibration file `sim --calibration` reads.
    Calibrate(CalibrateArgs),
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Trace file (format: traces/README.md).
    #[arg(long)]
    pub trace: PathBuf,
    /// Write one JSON record per invocation (measured phases) here.
    #[arg(long)]
    pub records: Option<PathBuf>,
    /// Settings file, as `sim --config` reads it: {"tiers", "cost", "zygote_tree"}.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Cost parameters (`sock-exec calibrate`'s output), as `sim --calibration`.
    #[arg(long)]
    pub calibration: Option<PathBuf>,
    /// Offline: install wheels only from this folder (e.g. `sock-exec packages`'s).
    /// Without it, pip's index (PyPI).
    #[arg(long)]
    pub find_links: Option<PathBuf>,
    /// Replay only the first N invocations.
    #[arg(long)]
    pub limit: Option<u64>,
    /// Pace arrivals at trace time / SPEEDUP of wall time (default: as fast
    /// as possible; decisions use trace time either way).
    #[arg(long)]
    pub speedup: Option<f64>,
    /// Per-request and per-fork timeout.
    #[arg(long, default_value_t = 60.0)]
    pub timeout_s: f64,
    /// Work folder for handlers and the run's install cache (emptied first).
    /// Default: `<state>/run`.
    #[arg(long)]
    pub work: Option<PathBuf>,
    /// Progress line every N invocations (0: none).
    #[arg(long, default_value_t = 500)]
    pub progress: u64,
    /// Summary format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: SummaryFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SummaryFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// Exact pins, `name==version`.
    #[arg(required = true)]
    pub keys: Vec<String>,
    /// Install cache folder. Default: `<state>/packages`.
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Offline: wheels and source distributions only from this folder.
    #[arg(long)]
    pub find_links: Option<PathBuf>,
    /// Install only the given pins. Default: pip resolves their dependency
    /// closure first (wheels only) and every package is installed.
    #[arg(long)]
    pub no_deps: bool,
}

#[derive(Debug, Args)]
pub struct PackagesArgs {
    /// Trace whose packages to make.
    #[arg(long)]
    pub trace: PathBuf,
    /// Output folder for the wheels.
    #[arg(long)]
    pub out: PathBuf,
    /// Multiply every import time (e.g. 0.5 for a quicker run).
    #[arg(long, default_value_t = 1.0)]
    pub import_scale: f64,
}

#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// Where to write the calibration JSON.
    #[arg(long, default_value = "calibration.json")]
    pub out: PathBuf,
    /// Trace whose packages to measure (per-package import time, memory,
    /// install time); without it only the host parameters are measured.
    #[arg(long)]
    pub trace: Option<PathBuf>,
    /// Offline: wheels folder for the trace's packages.
    #[arg(long)]
    pub find_links: Option<PathBuf>,
    /// Repetitions per host parameter (medians are written).
    #[arg(short, long, default_value_t = 30)]
    pub n: usize,
    /// Measure at most this many of the trace's packages.
    #[arg(long)]
    pub max_packages: Option<usize>,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Lean container create + no-op invocation + destroy vs Docker and runc.
    Containers(ContainersArgs),
    /// SOCK §2's Linux primitives study on this kernel (netns, mount count,
    /// bind vs overlay, cgroup reuse, chroot vs pivot_root).
    Primitives(PrimitivesArgs),
    /// Zygote hit vs fresh lean container vs Docker, for a hello-world
    /// handler and one importing big packages (default numpy + pandas).
    Zygotes(ZygotesArgs),
}

#[derive(Debug, Args)]
pub struct ZygotesArgs {
    /// Iterations per system and workload.
    #[arg(short, long, default_value_t = 30)]
    pub n: usize,
    /// Docker iterations per workload (spread over the run).
    #[arg(long, default_value_t = 10)]
    pub n_docker: usize,
    /// Requirements of the big workload (pip resolves their closure).
    #[arg(long, value_delimiter = ',', default_value = "numpy,pandas")]
    pub packages: Vec<String>,
    /// Modules the big workload's handler imports.
    #[arg(long, value_delimiter = ',', default_value = "numpy,pandas")]
    pub modules: Vec<String>,
    /// Offline: wheels folder (else PyPI).
    #[arg(long)]
    pub find_links: Option<PathBuf>,
    #[arg(long)]
    pub no_docker: bool,
    /// Output folder for the CSV.
    #[arg(long, default_value = "bench-out/zygotes")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct PrimitivesArgs {
    /// Output folder for the CSVs and plots.
    #[arg(long, default_value = "bench-out/primitives")]
    pub out: PathBuf,
    /// Scratch folder for dummy mounts and overlay dirs.
    #[arg(long, default_value = "/var/tmp")]
    pub scratch: PathBuf,
    /// Only these experiments (netns, mount_count, bind_overlay, cgroup, root).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// A few iterations only (a smoke run).
    #[arg(long)]
    pub quick: bool,
}

#[derive(Debug, Args)]
pub struct ContainersArgs {
    /// Iterations per configuration.
    #[arg(short, long, default_value_t = 200)]
    pub n: usize,
    /// Iterations for Docker (much slower).
    #[arg(long, default_value_t = 40)]
    pub n_docker: usize,
    /// Concurrency levels.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
    pub concurrency: Vec<usize>,
    /// Output folder for the CSV and plot.
    #[arg(long, default_value = "bench-out/containers")]
    pub out: PathBuf,
    #[arg(long)]
    pub no_docker: bool,
    #[arg(long)]
    pub no_runc: bool,
}
