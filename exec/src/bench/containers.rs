//! `sock-exec bench containers`: create + one no-op invocation + destroy
//! (its critical path: the asynchronous destroy's kill; the rest of the
//! teardown runs after the operation, in the throughput), N times at each
//! concurrency, for lean containers and (when installed)
//! `docker run --rm --network none` and `runc run` on the same rootfs.

use super::workers::run_workers;
use crate::baseline::plain::Plain;
use crate::baseline::runc::{self, Runc};
use crate::baseline::{docker, noop_argv, oci, Probe};
use crate::cli::ContainersArgs;
use crate::container::{ContainerSpec, Executor, ExecutorConfig};
use crate::primitives::Summary;
use anyhow::{bail, Context, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One measured row.
#[derive(Clone, Debug)]
pub struct Row {
    pub system: String,
    pub concurrency: usize,
    pub n: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub per_s: f64,
}

/// A no-op handler, written for the benchmark.
pub const NOOP_HANDLER: &str = "def f(event):\n    return None\n";

fn lean_job(
    state: &Path,
    base: &Path,
    handler: &Path,
    k: usize,
    iters: usize,
    prepared_roots: usize,
) -> Result<Vec<Duration>> {
    let mut config = ExecutorConfig::new(state.join(format!("bench-w{k}")), base.to_path_buf());
    config.cgroup_prefix = PathBuf::from(format!("sock-exec-bench/w{k}"));
    // One container live and the teardowns that may still be pending:
    // no create waits for a cold cgroup.
    config.pool_size = 3;
    config.prepared_roots = prepared_roots;
    let mut exec = Executor::new(config)?;
    let spec = ContainerSpec {
        handler_dir: handler.to_path_buf(),
        ..ContainerSpec::default()
    };
    let mut out = Vec::with_capacity(iters);
    let mut phases = Vec::with_capacity(iters);
    for _ in 0..iters {
        let t = Instant::now();
        let mut c = exec.create(&spec)?;
        let t1 = Instant::now();
        let steps = exec.last_create;
        let r = exec.invoke(&mut c, "{}", Duration::from_secs(30));
        let t2 = Instant::now();
        exec.destroy_async(c)?;
        let t3 = Instant::now();
        out.push(t3 - t);
        // The idle point after the response: the rest of the teardowns
        // that are done (off the critical path; in the throughput).
        exec.collect_teardowns()?;
        phases.push([
            t1 - t,
            steps.cgroup,
            steps.prepare,
            steps.spawn,
            t2 - t1,
            t3 - t2,
            t3.elapsed(),
        ]);
        let r = r?;
        if r.status != 200 {
            bail!("no-op handler answered {}: {}", r.status, r.body);
        }
    }
    if std::env::var_os("SOCK_BENCH_PHASES").is_some() {
        let names = [
            "create",
            "  step 1, cgroup",
            "  steps 2-7, mounts",
            "  step 8, spawn",
            "invoke",
            "destroy (critical path)",
            "teardown (off it)",
        ];
        for (i, name) in names.iter().enumerate() {
            let mut v: Vec<u64> = phases.iter().map(|p| p[i].as_nanos() as u64).collect();
            let s = Summary::from_ns(&mut v);
            eprintln!(
                "worker {k}: {name} p50 {:.2} ms p95 {:.2} ms",
                s.median_us / 1e3,
                s.p95_us / 1e3
            );
        }
        let mut v: Vec<u64> = phases
            .iter()
            .map(|p| (p[0] + p[5]).as_nanos() as u64)
            .collect();
        let s = Summary::from_ns(&mut v);
        eprintln!(
            "worker {k}: create + destroy on the critical path p50 {:.2} ms p95 {:.2} ms",
            s.median_us / 1e3,
            s.p95_us / 1e3
        );
    }
    exec.shutdown()?;
    Ok(out)
}

fn row(system: &str, concurrency: usize, run: super::workers::Run) -> Result<Row> {
    if let Some(e) = run.errors.first() {
        bail!("{system} at concurrency {concurrency}: {e}");
    }
    let mut l = run.latencies_ns;
    let n = l.len();
    let s = Summary::from_ns(&mut l);
    let (p50, p95) = (s.median_us / 1e3, s.p95_us / 1e3);
    Ok(Row {
        system: system.into(),
        concurrency,
        n,
        p50_ms: p50,
        p95_ms: p95,
        per_s: n as f64 / run.wall.as_secs_f64(),
    })
}

/// The systems measured besides lean containers, prepared once.
struct Baselines {
    argv: Vec<String>,
    docker: Option<docker::Docker>,
    runc: bool,
    chroot: Plain,
}

/// Runs the benchmark; returns the printed report (also writes CSV and a
/// plot). Systems are measured side by side: at each concurrency level,
/// lean, Docker, runc and chroot run one after the other, so machine noise
/// hits them alike.
pub fn run(state: &Path, base: &Path, args: &ContainersArgs) -> Result<String> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let handler = state.join("bench-handler");
    std::fs::create_dir_all(&handler)?;
    std::fs::write(handler.join("f.py"), NOOP_HANDLER)?;
    let mut notes = Vec::new();
    let b = prepare_baselines(base, args, &mut notes)?;
    let mut rows = Vec::new();
    for &c in &args.concurrency {
        let per = args.n.div_ceil(c);
        rows.push(row(
            "lean",
            c,
            run_workers(c, |k| {
                lean_job(state, base, &handler, k, per, args.prepared_roots)
            })?,
        )?);
        if let Some(d) = &b.docker {
            let per = args.n_docker.div_ceil(c);
            let run = run_workers(c, |_| {
                (0..per)
                    .map(|_| d.run_once(&b.argv).map_err(anyhow::Error::from))
                    .collect()
            })?;
            rows.push(row("docker", c, run)?);
        }
        if b.runc {
            let run = run_workers(c, |k| {
                let opts = oci::Options {
                    network_namespace: true,
                    readonly_root: true,
                };
                let mut r = Runc::prepare(&state.join(format!("runc-bundle-w{k}")), base, opts)?;
                (0..per)
                    .map(|_| r.run_once(&b.argv).map_err(anyhow::Error::from))
                    .collect()
            })?;
            rows.push(row("runc", c, run)?);
        }
        let run = run_workers(c, |_| {
            (0..per)
                .map(|_| b.chroot.run_once(&b.argv).map_err(anyhow::Error::from))
                .collect()
        })?;
        rows.push(row("chroot", c, run)?);
    }
    rows.sort_by_key(|r| (order(&r.system), r.concurrency));
    write_csv(&args.out.join("containers.csv"), &rows)?;
    match super::plot::containers(&rows, &args.out.join("containers.svg")) {
        Ok(()) => notes.push(format!(
            "wrote {0}/containers.csv, .svg, .png",
            args.out.display()
        )),
        Err(e) => notes.push(format!(
            "wrote {}/containers.csv; no plot: {e}",
            args.out.display()
        )),
    }
    Ok(report(&rows, &notes))
}

fn order(system: &str) -> usize {
    ["lean", "docker", "runc", "chroot"]
        .iter()
        .position(|s| *s == system)
        .unwrap_or(9)
}

/// Detects Docker and runc and imports the base image into Docker. All
/// baselines run `python3 -S -c pass`: less work than the lean container's
/// request (which also loads the handler and answers over HTTP), so the
/// ratios are conservative.
fn prepare_baselines(
    base: &Path,
    args: &ContainersArgs,
    notes: &mut Vec<String>,
) -> Result<Baselines> {
    let argv = noop_argv(false);
    notes.push(format!("baseline workload: {}", argv.join(" ")));
    let docker = if args.no_docker {
        notes.push("docker: skipped (--no-docker)".into());
        None
    } else {
        match docker::detect() {
            Probe::Ready(engine) => {
                let d = engine
                    .image_from_rootfs(base, None)
                    .context("docker import of the base image")?;
                notes.push(format!("docker: {:?}", d.command(&argv)));
                Some(d)
            }
            Probe::Skipped { reason } => {
                notes.push(format!("docker: skipped ({reason})"));
                None
            }
        }
    };
    let runc = if args.no_runc {
        notes.push("runc: skipped (--no-runc)".into());
        false
    } else {
        match runc::detect() {
            Probe::Ready(version) => {
                notes.push(format!("runc: {version}, read-only root, new network namespace (as docker --network none)"));
                true
            }
            Probe::Skipped { reason } => {
                notes.push(format!("runc: skipped ({reason})"));
                false
            }
        }
    };
    notes.push(
        "chroot: the floor, a fresh interpreter in the base image with no isolation at all".into(),
    );
    Ok(Baselines {
        argv,
        docker,
        runc,
        chroot: Plain::chroot(base),
    })
}

fn write_csv(path: &Path, rows: &[Row]) -> Result<()> {
    let mut s = String::from("system,concurrency,n,p50_ms,p95_ms,per_s\n");
    for r in rows {
        let _ = writeln!(
            s,
            "{},{},{},{:.3},{:.3},{:.1}",
            r.system, r.concurrency, r.n, r.p50_ms, r.p95_ms, r.per_s
        );
    }
    std::fs::write(path, s).with_context(|| format!("writing {}", path.display()))
}

fn report(rows: &[Row], notes: &[String]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<8}{:>6}{:>6}{:>10}{:>10}{:>10}{:>16}{:>18}",
        "system", "conc", "n", "p50 ms", "p95 ms", "per s", "p50 / lean p50", "lean per s / this"
    );
    for r in rows {
        let lean = rows
            .iter()
            .find(|x| x.system == "lean" && x.concurrency == r.concurrency);
        let ratio = lean.map(|l| r.p50_ms / l.p50_ms).unwrap_or(f64::NAN);
        let thr = lean.map(|l| l.per_s / r.per_s).unwrap_or(f64::NAN);
        let _ = writeln!(
            s,
            "{:<8}{:>6}{:>6}{:>10.2}{:>10.2}{:>10.1}{:>15.1}x{:>17.1}x",
            r.system, r.concurrency, r.n, r.p50_ms, r.p95_ms, r.per_s, ratio, thr
        );
    }
    for n in notes {
        let _ = writeln!(s, "note: {n}");
    }
    s
}
