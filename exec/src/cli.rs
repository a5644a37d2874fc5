//! Command-line interface of `sock-exec` (clap derive).

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

/// Longest timeout accepted (one day): far above any request, and far
/// below where `Duration` arithmetic could overflow.
pub const MAX_TIMEOUT_S: f64 = 86_400.0;

/// `--timeout-s`: a finite number of seconds in (0, [`MAX_TIMEOUT_S`]].
/// Validated here, at parse time, so a bad value is an error before any
/// container exists (it used to panic in `Duration::from_secs_f64` after
/// `invoke` had created one, which then leaked).
pub fn parse_timeout(s: &str) -> Result<Duration, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !(v.is_finite() && v > 0.0 && v <= MAX_TIMEOUT_S) {
        return Err(format!(
            "{s:?}: a timeout must be a finite number of seconds in (0, {MAX_TIMEOUT_S}]"
        ));
    }
    Duration::try_from_secs_f64(v).map_err(|e| format!("{s:?}: {e}"))
}

/// `--speedup`: a finite factor in [1e-6, 1e12] (0 or a tiny factor would
/// make the pacing wait infinite or overflow).
pub fn parse_speedup(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number"))?;
    if !(v.is_finite() && (1e-6..=1e12).contains(&v)) {
        return Err(format!(
            "{s:?}: the speedup must be a finite factor in [1e-6, 1e12]"
        ));
    }
    Ok(v)
}

/// A scale factor: finite and >= 0.
pub fn parse_scale(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number"))?;
    if !(v.is_finite() && v >= 0.0) {
        return Err(format!("{s:?}: must be a finite number >= 0"));
    }
    Ok(v)
}

/// A count that must be at least 1 (iterations, concurrency levels).
pub fn parse_count(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{s:?} is not a whole number >= 1")),
    }
}

/// Most requests `sock-exec load` keeps in flight (one client thread each).
pub const MAX_CONCURRENCY_CAP: usize = 4096;

/// `--concurrency-cap`: in [1, [`MAX_CONCURRENCY_CAP`]].
pub fn parse_cap(s: &str) -> Result<usize, String> {
    let n = parse_count(s)?;
    if n > MAX_CONCURRENCY_CAP {
        return Err(format!(
            "{n}: at most {MAX_CONCURRENCY_CAP} requests in flight (one thread each)"
        ));
    }
    Ok(n)
}

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
        /// Request timeout (seconds).
        #[arg(long, default_value = "30", value_parser = parse_timeout)]
        timeout_s: Duration,
    },
    /// Replay a trace on real lean containers, Zygotes and an install
    /// cache, driven by the sock-core planner; writes measured records in
    /// `sim --records`'s schema (compare them with `sim compare`).
    Run(RunArgs),
    /// Serve a function registry over HTTP (OpenLambda's API: POST
    /// /run/<function>, GET /status, GET /stats) on the three tiers, driven
    /// by the same planner and worker model as `sim`; picks up functions
    /// added or changed on disk; SIGINT/SIGTERM drain and tear down.
    Worker(WorkerArgs),
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
    /// Write a function registry folder (`<function>/f.py`,
    /// `requirements.txt`) standing in for a trace's functions, for
    /// `sock-exec worker` to serve and `sock-exec load` to replay.
    Registry(RegistryArgs),
    /// Replay a trace over HTTP against an OpenLambda-compatible worker
    /// (`POST /run/<function>`) in wall time; writes the worker's records
    /// (plus the HTTP hop) in `sim --records`' schema for `sim compare`.
    Load(LoadArgs),
    /// The Docker baseline of `sock-exec worker`: the same HTTP API
    /// (`POST /run/<function>`, `GET /status`, `GET /stats`) served from Docker
    /// containers, warm (kept, optionally paused) or one per call.
    DockerWorker(DockerWorkerArgs),
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
    /// Settings file, as `sim --config` reads it:
    /// {"worker", "tiers", "cost", "zygote_tree"} (e.g. `sim plan --out`'s).
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
    #[arg(long, value_parser = parse_speedup)]
    pub speedup: Option<f64>,
    /// Serve invocations concurrently in wall-clock time, overlapping as
    /// the trace's arrivals do (paced at --speedup, default 1), bounded by
    /// `worker.cores` (old name `replay.max_concurrency`) with sim's FIFO
    /// queue. Default: one at a time in virtual time.
    #[arg(long)]
    pub concurrent: bool,
    /// Per-request and per-fork timeout (seconds).
    #[arg(long, default_value = "60", value_parser = parse_timeout)]
    pub timeout_s: Duration,
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

#[derive(Debug, Args)]
pub struct RegistryArgs {
    /// Trace whose functions to write (format: traces/README.md).
    #[arg(long)]
    pub from_trace: PathBuf,
    /// The registry folder to create (must be new or empty).
    #[arg(long)]
    pub out: PathBuf,
    /// Check that this folder holds a wheel (or sdist) for every package
    /// the functions need (e.g. `sock-exec packages`'s output), so an
    /// offline worker will not fail at its first request.
    #[arg(long)]
    pub find_links: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Trace file (format: traces/README.md).
    #[arg(long)]
    pub trace: PathBuf,
    /// The worker, `http://host:port[/prefix]`.
    #[arg(long)]
    pub url: String,
    /// Write one JSON record per served invocation here, in trace order.
    #[arg(long)]
    pub records: Option<PathBuf>,
    /// Send each invocation at its trace time / SPEEDUP after the start.
    #[arg(long, default_value = "1", value_parser = parse_speedup)]
    pub speedup: f64,
    /// Replay only the first N invocations.
    #[arg(long)]
    pub limit: Option<u64>,
    /// Most requests in flight; a call due while all are busy waits.
    #[arg(long, default_value = "64", value_parser = parse_cap)]
    pub concurrency_cap: usize,
    /// Per-request timeout (seconds): connect, send and response.
    #[arg(long, default_value = "60", value_parser = parse_timeout)]
    pub timeout_s: Duration,
    /// A progress line on stderr every N seconds (0: none).
    #[arg(long, default_value_t = 10)]
    pub progress_s: u64,
    /// Summary format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: SummaryFormat,
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Function registry: `<registry>/<function>/f.py` with `def f(event)`
    /// and an optional `requirements.txt` of exact `name==version` pins.
    #[arg(long)]
    pub registry: PathBuf,
    /// TCP address to listen on (port 0: any free port; the address is
    /// printed). Loopback by default.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// Also listen on this Unix socket.
    #[arg(long)]
    pub socket: Option<PathBuf>,
    /// Settings file, as `sim --config` reads it (worker, tiers, cost).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Cost parameters (`sock-exec calibrate`'s output), as `sim --calibration`.
    #[arg(long)]
    pub calibration: Option<PathBuf>,
    /// Offline: install wheels only from this folder. Without it, PyPI.
    #[arg(long)]
    pub find_links: Option<PathBuf>,
    /// Per-request timeout (seconds): a handler running longer is killed
    /// and its call answered 504.
    #[arg(long, default_value = "30", value_parser = parse_timeout)]
    pub timeout_s: Duration,
    /// Longest drain on SIGINT/SIGTERM before the calls still in flight
    /// are cut (seconds).
    #[arg(long, default_value = "30", value_parser = parse_timeout)]
    pub drain_timeout_s: Duration,
    /// Work folder (the run's install cache, the metadata cache of the
    /// registry's packages). Default: `<state>/worker`.
    #[arg(long)]
    pub work: Option<PathBuf>,
    /// Cgroup folder of the worker's containers (one per worker on a host).
    #[arg(long, default_value = "sock-exec-worker")]
    pub cgroup_prefix: PathBuf,
}

#[derive(Debug, Args)]
pub struct DockerWorkerArgs {
    /// Function registry: `<registry>/<function>/f.py` (+ `requirements.txt`).
    #[arg(long)]
    pub registry: PathBuf,
    #[arg(long, default_value_t = 8090)]
    pub port: u16,
    #[arg(long, default_value = "127.0.0.1")]
    pub listen: String,
    /// Idle containers kept per function (0: a fresh `docker run --rm`
    /// container per call).
    #[arg(long, default_value_t = 1)]
    pub warm_pool: usize,
    /// `docker pause` idle containers (OpenWhisk), unpaused by the next call.
    #[arg(long)]
    pub pause_idle: bool,
    /// With --pause-idle: pause a container once idle this long (OpenWhisk
    /// pauses after a short grace period); 0 pauses right after each call.
    #[arg(long, default_value_t = 0)]
    pub pause_grace_ms: u64,
    /// Install cache for the functions' requirements. Default: `<state>/packages`.
    #[arg(long)]
    pub packages: Option<PathBuf>,
    /// Per-request timeout (seconds); past it the answer is 504.
    #[arg(long, default_value = "30", value_parser = parse_timeout)]
    pub timeout_s: Duration,
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
    #[arg(long, default_value_t = 1.0, value_parser = parse_scale)]
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
    #[arg(short, long, default_value_t = 30, value_parser = parse_count)]
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
    #[arg(short, long, default_value_t = 30, value_parser = parse_count)]
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
    #[arg(short, long, default_value_t = 200, value_parser = parse_count)]
    pub n: usize,
    /// Iterations for Docker (much slower).
    #[arg(long, default_value_t = 40)]
    pub n_docker: usize,
    /// Concurrency levels.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4", value_parser = parse_count)]
    pub concurrency: Vec<usize>,
    /// Output folder for the CSV and plot.
    #[arg(long, default_value = "bench-out/containers")]
    pub out: PathBuf,
    #[arg(long)]
    pub no_docker: bool,
    #[arg(long)]
    pub no_runc: bool,
    /// Prepared roots each lean worker keeps ready (0: every create does
    /// all its steps on the critical path).
    #[arg(long, default_value_t = 2)]
    pub prepared_roots: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("sock-exec").chain(args.iter().copied()))
    }

    /// Issue 12: `Duration::from_secs_f64` panicked on these after a
    /// container was created (which then leaked); they are parse errors now.
    #[test]
    fn cli_rejects_seconds_that_would_panic() {
        for bad in ["-1", "NaN", "inf", "-inf", "0", "1e300", "x"] {
            let arg = format!("--timeout-s={bad}");
            let run = parse(&["run", "--trace", "t.json", &arg]);
            assert!(run.is_err(), "run {arg} accepted");
            let err = run.err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains("--timeout-s"), "{err}");
            let inv = parse(&["invoke", "--handler", "h", &arg]);
            assert!(inv.is_err(), "invoke {arg} accepted");
        }
        assert!(parse(&["run", "--trace", "t", "--timeout-s=2.5"]).is_ok());
    }

    #[test]
    fn cli_rejects_speedup_zero_and_other_bad_numbers() {
        for bad in ["0", "-2", "NaN", "inf", "1e-300"] {
            let arg = format!("--speedup={bad}");
            assert!(
                parse(&["run", "--trace", "t", &arg]).is_err(),
                "{arg} accepted"
            );
        }
        assert!(parse(&["run", "--trace", "t", "--speedup=10"]).is_ok());
        assert!(parse(&["load", "--trace", "t", "--url", "u", "--concurrency-cap=8"]).is_ok());
        assert!(parse(&["registry", "--from-trace", "t", "--out", "o"]).is_ok());
        for bad in [
            &[
                "packages",
                "--trace",
                "t",
                "--out",
                "o",
                "--import-scale=NaN",
            ][..],
            &[
                "packages",
                "--trace",
                "t",
                "--out",
                "o",
                "--import-scale=-1",
            ],
            &["calibrate", "-n", "0"],
            &["bench", "containers", "-n", "0"],
            &["bench", "containers", "--concurrency", "1,0"],
            &["bench", "zygotes", "-n", "0"],
            &["load", "--trace", "t", "--url", "u", "--speedup=0"],
            &["load", "--trace", "t", "--url", "u", "--concurrency-cap=0"],
            &[
                "load",
                "--trace",
                "t",
                "--url",
                "u",
                "--concurrency-cap=5000",
            ],
            &["load", "--trace", "t", "--url", "u", "--timeout-s=-1"],
            &["load", "--trace", "t"],
            &["registry", "--out", "o"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
