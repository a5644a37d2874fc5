//! `sock-exec calibrate`: measures the cost model's parameters
//! ([`CostParams`](sock_core::cost::CostParams)) on this host, with real lean containers and Zygotes,
//! and writes them as the calibration file `sim --calibration` and
//! `sock-exec run --calibration` read.
//!
//! Every sample is read through `crate::measure`, the rule `sock-exec
//! run` attributes each invocation's phases with (each phase between two
//! step boundaries), so a calibrated `sim` predicts what `run` measures:
//!
//! - fresh start of a no-op handler: its `create` phase (container set-up
//!   and interpreter start), which the model charges as
//!   `container_create_ms + python_start_ms`;
//! - `container_create_ms`: the `create` phase of a fork from the root
//!   Zygote (create steps 1-7); `python_start_ms` is the fresh start minus
//!   it; `create_per_package_ms`: the extra `create` with 8 package
//!   folders mounted, per folder;
//! - `fork_base_ms`: the `fork` phase of forks from the root Zygote;
//! - `fork_per_mb_ms`: the same from a Zygote holding a 200 MB test
//!   package: the extra fork time over the extra Zygote memory;
//! - `spare_hit_ms`: the `fork` phase when a pre-forked child of the root
//!   Zygote takes the container (refilled between samples);
//! - `unpause_ms`: the `unpause` phase of a paused no-op handler;
//! - `transport_ms`: the `transport` phase of the handler hits;
//!   `transport_cold_ms`: the extra `transport` of the forks above
//!   (median of theirs minus median of the hits', at least 0);
//!   `transport_fresh_ms`: a fresh start's extra `transport` over a fork's
//!   (the fresh interpreter's first compile, loading the handler);
//! - `interpreter_mb`: memory of a root Zygote's cgroup once it serves;
//!   `zygote_fork_mb`: memory of a handler's cgroup right after a fork
//!   from the root Zygote (its private memory);
//! - with a trace: per package, its install time (pip, `--no-deps`), its
//!   own import time given its dependencies (runtime-measured import time
//!   of deps + package minus that of deps alone, in fresh containers) and
//!   the memory that import adds.
//!
//! Memory is the cgroup's charge (`memory.current`, v1
//! `memory.usage_in_bytes`) *minus what the pooled cgroup held before the
//! container entered it*: pooled cgroups keep the page cache earlier
//! containers charged to them. MB are MiB, as [`Bytes::from_mb_f64`](sock_core::Bytes::from_mb_f64) reads
//! them. Times are medians over `--n` repetitions, after one discarded
//! warm-up run.
//!
//! One concept per file: `samples.rs` (the raw samples and their
//! statistics), `calibrator.rs` (the executor, its long-lived containers
//! and the three measured operations), `host.rs` (the host parameters),
//! `packages.rs` (a trace's per-package costs), `fit.rs` (samples to
//! [`CostParams`](sock_core::cost::CostParams)), `report.rs` (the printed report).

mod calibrator;
mod fit;
mod host;
mod packages;
mod report;
mod samples;

use crate::cli::CalibrateArgs;
use crate::container::{ContainerSpec, Executor, ExecutorConfig};
use anyhow::{anyhow, bail, Context};
use calibrator::Calibrator;
use samples::Measured;
use sock_core::trace::Catalog;
use std::path::Path;
use std::time::Duration;

/// cgroup prefix of the calibration executor's pool.
pub const CGROUP_PREFIX: &str = "sock-exec-calibrate";
/// Memory limit of each pooled cgroup: the big Zygote holds 200 MB, and a
/// trace's packages may hold more.
pub const MEMORY_LIMIT: u64 = 2 << 30;
/// Memory the big test package keeps alive (MB) for `fork_per_mb_ms`.
pub const BIG_PACKAGE_MB: f64 = 200.0;
/// Per-request and per-fork timeout.
const TIMEOUT: Duration = Duration::from_secs(120);
/// Package folders mounted to measure `create_per_package_ms`.
const MOUNTS: usize = 8;
/// How long a handler stays paused before `unpause_ms` is measured.
const PAUSE: Duration = Duration::from_millis(200);
/// Repetitions per package (at most).
const PACKAGE_RUNS: usize = 5;
const NOOP: &str = "def f(event):\n    return 1\n";

/// Measures and writes the calibration file; returns a printable report.
pub fn run(state: &Path, base_root: &Path, args: &CalibrateArgs) -> anyhow::Result<String> {
    if args.n == 0 {
        bail!("-n must be at least 1");
    }
    let catalog = match &args.trace {
        Some(path) => Some(read_catalog(path)?),
        None => None,
    };
    let python = crate::base::python_version(base_root)
        .ok_or_else(|| anyhow!("no python3.N under {}/usr/lib", base_root.display()))?;
    let work = state.join(format!("calibrate-{}", std::process::id()));
    make_work_dir(&work)?;
    let result = measure(state, base_root, args, catalog.as_ref(), &python, &work);
    let _ = std::fs::remove_dir_all(&work);
    let m = result?;
    let params = m.params()?;
    let text = serde_json::to_string_pretty(&params)?;
    std::fs::write(&args.out, format!("{text}\n"))
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    Ok(m.render(&params, catalog.as_ref(), &args.out))
}

fn read_catalog(path: &Path) -> anyhow::Result<Catalog> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot open trace {}", path.display()))?;
    let reader = sock_core::trace::TraceReader::new(
        std::io::BufReader::new(file),
        path.display().to_string(),
    )?;
    Ok(reader.into_parts().0)
}

/// `<work>` (recreated) with a world-readable no-op handler in `handler/`.
fn make_work_dir(work: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if work.exists() {
        std::fs::remove_dir_all(work).with_context(|| format!("clear {}", work.display()))?;
    }
    let h = work.join("handler");
    std::fs::create_dir_all(&h).with_context(|| format!("create {}", h.display()))?;
    std::fs::write(h.join("f.py"), NOOP).context("write the no-op handler")?;
    for (p, mode) in [
        (h.join("f.py"), 0o644),
        (h.clone(), 0o755),
        (work.into(), 0o755),
    ] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("chmod {}", p.display()))?;
    }
    Ok(())
}

/// Starts the executor, measures, and always tears everything down.
fn measure(
    state: &Path,
    base_root: &Path,
    args: &CalibrateArgs,
    catalog: Option<&Catalog>,
    python: &str,
    work: &Path,
) -> anyhow::Result<Measured> {
    let mut config = ExecutorConfig::new(state.to_path_buf(), base_root.to_path_buf());
    config.cgroup_prefix = CGROUP_PREFIX.into();
    config.limits.memory_bytes = Some(MEMORY_LIMIT);
    let exec = Executor::new(config).context("starting the executor")?;
    let mut cal = Calibrator {
        exec,
        live: Vec::new(),
        n: args.n,
        work: work.to_path_buf(),
        noop: ContainerSpec {
            handler_dir: work.join("handler"),
            ..ContainerSpec::default()
        },
    };
    let mut m = Measured::default();
    let result = cal.host(&mut m, python).and_then(|()| match catalog {
        Some(catalog) => cal.packages(&mut m, catalog, args, python),
        None => Ok(()),
    });
    let teardown = cal.teardown();
    result?;
    teardown.context("tearing down the calibration containers")?;
    Ok(m)
}
