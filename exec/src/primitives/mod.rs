//! The Linux primitives study of SOCK (Oakes et al., ATC'18, section 2),
//! rerun on this host: what do the building blocks of a container cost?
//!
//! | experiment | file | question |
//! |---|---|---|
//! | `netns` | [`netns`] | create+destroy throughput with and without a network namespace, vs concurrency |
//! | `mount_count` | [`mount_count`] | `unshare(CLONE_NEWNS)` cost vs the number of mounts it copies |
//! | `bind_overlay` | [`bind_overlay`] | bind mount vs overlayfs, mount+unmount |
//! | `cgroup` | [`cgroup`] | cgroup create+destroy vs reuse of a pre-created one |
//! | `root` | [`root`] | `chroot` vs `pivot_root` in a private mount namespace |
//!
//! Each experiment returns [`Row`]s (per-op median and p95 in µs, ops/s);
//! [`output`] writes them as CSV and plots (SVG, PNG). Every operation runs in
//! forked workers ([`worker`]), never in the caller, and the variants of an
//! experiment are measured side by side, interleaved over several rounds,
//! because the machine is noisy. fork(2) needs a single-threaded caller:
//! run the study before starting any thread.
//!
//! Everything the study creates on the host (dummy mounts, scratch
//! tmpfs, cgroups) is owned by a guard that removes it on drop, also on
//! error.

pub mod bind_overlay;
pub mod cgroup;
pub mod mount_count;
pub mod netns;
pub mod output;
pub mod root;
pub mod scratch;
pub mod stats;
pub mod worker;

use crate::sys::SysError;
use std::path::{Path, PathBuf};

pub use stats::Summary;

/// Errors of the study, named after the failing step.
#[derive(Debug, thiserror::Error)]
pub enum PrimError {
    #[error("fork needs a single-threaded process, this one has {threads} threads (run the study before starting threads)")]
    MultiThreaded { threads: usize },
    #[error(transparent)]
    Sys(#[from] SysError),
    #[error("{op} {}: {err}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        err: std::io::Error,
    },
    #[error("operation failed in a worker: {0}")]
    Op(String),
    #[error("worker process died: {status}")]
    WorkerDied { status: String },
    #[error("{experiment} ({variant}): {source}")]
    In {
        experiment: &'static str,
        variant: String,
        #[source]
        source: Box<PrimError>,
    },
    #[error("cgroup: {0}")]
    Cgroup(String),
    #[error("plot {}: {msg}", path.display())]
    Plot { path: PathBuf, msg: String },
}

impl PrimError {
    /// Wraps an error with the experiment and variant it happened in.
    pub fn within(self, experiment: &'static str, variant: impl Into<String>) -> PrimError {
        PrimError::In {
            experiment,
            variant: variant.into(),
            source: Box::new(self),
        }
    }

    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> PrimError {
        let path = path.into();
        move |err| PrimError::Io { op, path, err }
    }
}

/// How much to measure, and where.
#[derive(Clone, Debug)]
pub struct Config {
    /// Untimed calls per worker before each timed loop.
    pub warmup: usize,
    /// Timed calls per worker per cell (split over `rounds`).
    pub iterations: usize,
    /// Rounds over which the cells of an experiment are interleaved.
    pub rounds: usize,
    /// Worker counts for the netns experiment.
    pub concurrency: Vec<usize>,
    /// Dummy mount counts for the mount-count experiment.
    pub mount_counts: Vec<usize>,
    /// Where scratch directories (tmpfs mount points) are made.
    pub scratch: PathBuf,
    /// A root file system (e.g. the base image): overlay lower layer,
    /// bind source, chroot / pivot_root target. `None`: a small synthetic
    /// tree in the scratch dir.
    pub rootfs: Option<PathBuf>,
}

impl Config {
    /// The full study (about 1.5 minutes on 2 cores).
    pub fn full(scratch: &Path, rootfs: Option<&Path>) -> Config {
        Config {
            warmup: 20,
            iterations: 1000,
            rounds: 5,
            concurrency: vec![1, 2, 4, 8],
            mount_counts: vec![0, 100, 500, 1000, 2000],
            scratch: scratch.to_path_buf(),
            rootfs: rootfs.map(Path::to_path_buf),
        }
    }

    /// A few iterations of everything (tests, smoke runs).
    pub fn tiny(scratch: &Path, rootfs: Option<&Path>) -> Config {
        Config {
            warmup: 1,
            iterations: 6,
            rounds: 2,
            concurrency: vec![1, 2],
            mount_counts: vec![0, 10],
            scratch: scratch.to_path_buf(),
            rootfs: rootfs.map(Path::to_path_buf),
        }
    }

    /// Timed calls per round, at least one.
    pub(crate) fn per_round(&self, iterations: usize) -> usize {
        iterations.div_ceil(self.rounds.max(1)).max(1)
    }
}

/// One measured cell: an experiment's variant at one x value.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub experiment: &'static str,
    pub variant: String,
    /// What was timed, e.g. `fork+unshare+exit+wait` or `unshare`.
    pub metric: &'static str,
    /// Name of the swept parameter (`processes`, `dummy_mounts`, `-`).
    pub x_name: &'static str,
    pub x: u64,
    pub summary: Summary,
    /// Operations per second: all workers' operations over the wall span
    /// (for a core step timed inside an operation: 1 / mean).
    pub ops_per_s: f64,
    /// Free-form context (e.g. `mounts_total=2021`).
    pub detail: String,
}

impl Row {
    /// Rows for the op and core metrics of one run.
    pub(crate) fn pair(
        experiment: &'static str,
        variant: &str,
        (op_metric, core_metric): (&'static str, &'static str),
        (x_name, x): (&'static str, u64),
        run: &mut worker::Run,
        detail: &str,
    ) -> [Row; 2] {
        let ops = run.ops_per_s();
        let op = Summary::from_ns(&mut run.op_ns);
        let core = Summary::from_ns(&mut run.core_ns);
        let mk = |metric, summary: Summary, ops_per_s| Row {
            experiment,
            variant: variant.to_string(),
            metric,
            x_name,
            x,
            summary,
            ops_per_s,
            detail: detail.to_string(),
        };
        [
            mk(op_metric, op, ops),
            mk(core_metric, core, 1e6 / core.mean_us),
        ]
    }
}

/// The experiments, a closed set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Experiment {
    Netns,
    MountCount,
    BindOverlay,
    Cgroup,
    Root,
}

impl Experiment {
    pub const ALL: [Experiment; 5] = [
        Experiment::Netns,
        Experiment::MountCount,
        Experiment::BindOverlay,
        Experiment::Cgroup,
        Experiment::Root,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Experiment::Netns => "netns",
            Experiment::MountCount => "mount_count",
            Experiment::BindOverlay => "bind_overlay",
            Experiment::Cgroup => "cgroup",
            Experiment::Root => "root",
        }
    }

    /// Parses a name as printed by [`Experiment::name`].
    pub fn from_name(name: &str) -> Option<Experiment> {
        Experiment::ALL.into_iter().find(|e| e.name() == name)
    }

    /// Runs this experiment (refused in a multithreaded process).
    pub fn run(self, cfg: &Config) -> Result<Vec<Row>, PrimError> {
        worker::require_single_threaded()?;
        match self {
            Experiment::Netns => netns::run(cfg),
            Experiment::MountCount => mount_count::run(cfg),
            Experiment::BindOverlay => bind_overlay::run(cfg),
            Experiment::Cgroup => cgroup::run(cfg),
            Experiment::Root => root::run(cfg),
        }
    }
}

/// What one experiment produced.
#[derive(Debug)]
pub struct Outcome {
    pub experiment: Experiment,
    pub rows: Result<Vec<Row>, PrimError>,
    /// Files written (CSV, plot); empty if the experiment failed.
    pub files: Vec<PathBuf>,
    /// A plot that could not be drawn (the CSV is still written).
    pub plot_error: Option<PrimError>,
}

/// Runs `experiments` one after the other and writes `<name>.csv`,
/// `<name>.svg` and `<name>.png` for each into `out_dir`. One failing experiment does not
/// stop the others: its error is in its [`Outcome`].
pub fn run_all(
    cfg: &Config,
    experiments: &[Experiment],
    out_dir: &Path,
) -> Result<Vec<Outcome>, PrimError> {
    worker::require_single_threaded()?;
    std::fs::create_dir_all(out_dir).map_err(PrimError::io("create output dir", out_dir))?;
    let mut outcomes = Vec::new();
    for &experiment in experiments {
        tracing::info!(experiment = experiment.name(), "primitives: running");
        let rows = experiment.run(cfg);
        let mut files = Vec::new();
        let mut plot_error = None;
        if let Ok(rows) = &rows {
            let csv = out_dir.join(format!("{}.csv", experiment.name()));
            output::write_csv(rows, &csv)?;
            files.push(csv);
            let svg = out_dir.join(format!("{}.svg", experiment.name()));
            match output::plot(experiment, rows, &svg) {
                Ok(()) => files.extend([svg.with_extension("png"), svg]),
                Err(e) => plot_error = Some(e),
            }
        }
        outcomes.push(Outcome {
            experiment,
            rows,
            files,
            plot_error,
        });
    }
    Ok(outcomes)
}
