//! `sock-exec bench containers`: create + one no-op invocation + destroy,
//! N times at each concurrency, for lean containers and (when installed)
//! `docker run --rm --network none` and `runc run` on the same rootfs.

use super::p50_p95_ms;
use super::workers::run_workers;
use crate::cli::ContainersArgs;
use crate::container::{ContainerSpec, Executor, ExecutorConfig};
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

fn lean_job(state: &Path, base: &Path, handler: &Path, k: usize, iters: usize) -> Result<Vec<Duration>> {
    let mut config = ExecutorConfig::new(state.join(format!("bench-w{k}")), base.to_path_buf());
    config.cgroup_prefix = PathBuf::from(format!("sock-exec-bench/w{k}"));
    config.pool_size = 2;
    let mut exec = Executor::new(config)?;
    let spec = ContainerSpec { handler_dir: handler.to_path_buf(), packages: Vec::new() };
    let mut out = Vec::with_capacity(iters);
    let mut phases = Vec::with_capacity(iters);
    for _ in 0..iters {
        let t = Instant::now();
        let mut c = exec.create(&spec)?;
        let t1 = Instant::now();
        let r = exec.invoke(&mut c, "{}", Duration::from_secs(30));
        let t2 = Instant::now();
        exec.destroy(c)?;
        phases.push([t1 - t, t2 - t1, t2.elapsed()]);
        let r = r?;
        if r.status != 200 {
            bail!("no-op handler answered {}: {}", r.status, r.body);
        }
        out.push(t.elapsed());
    }
    if std::env::var_os("SOCK_BENCH_PHASES").is_some() {
        for (i, name) in ["create", "invoke", "destroy"].iter().enumerate() {
            let mut v: Vec<f64> = phases.iter().map(|p| p[i].as_secs_f64() * 1e3).collect();
            let (p50, p95) = p50_p95_ms(&mut v);
            eprintln!("worker {k}: {name} p50 {p50:.2} ms p95 {p95:.2} ms");
        }
    }
    exec.shutdown()?;
    Ok(out)
}

fn row(system: &str, concurrency: usize, run: super::workers::Run) -> Result<Row> {
    if let Some(e) = run.errors.first() {
        bail!("{system} at concurrency {concurrency}: {e}");
    }
    let mut l = run.latencies_ms;
    let n = l.len();
    let (p50, p95) = p50_p95_ms(&mut l);
    Ok(Row { system: system.into(), concurrency, n, p50_ms: p50, p95_ms: p95, per_s: n as f64 / run.wall.as_secs_f64() })
}

/// Runs the benchmark; returns the printed report (also writes CSV).
pub fn run(state: &Path, base: &Path, args: &ContainersArgs) -> Result<String> {
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let handler = state.join("bench-handler");
    std::fs::create_dir_all(&handler)?;
    std::fs::write(handler.join("f.py"), NOOP_HANDLER)?;
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for &c in &args.concurrency {
        let per = args.n.div_ceil(c);
        let run = run_workers(c, |k| lean_job(state, base, &handler, k, per))?;
        rows.push(row("lean", c, run)?);
    }
    baselines(base, args, &mut rows, &mut notes)?;
    write_csv(&args.out.join("containers.csv"), &rows)?;
    Ok(report(&rows, &notes))
}

fn baselines(_base: &Path, _args: &ContainersArgs, _rows: &mut Vec<Row>, notes: &mut Vec<String>) -> Result<()> {
    notes.push("docker, runc: baselines not wired yet".into());
    Ok(())
}

fn write_csv(path: &Path, rows: &[Row]) -> Result<()> {
    let mut s = String::from("system,concurrency,n,p50_ms,p95_ms,per_s\n");
    for r in rows {
        let _ = writeln!(s, "{},{},{},{:.3},{:.3},{:.1}", r.system, r.concurrency, r.n, r.p50_ms, r.p95_ms, r.per_s);
    }
    std::fs::write(path, s).with_context(|| format!("writing {}", path.display()))
}

fn report(rows: &[Row], notes: &[String]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{:<8}{:>6}{:>6}{:>10}{:>10}{:>10}{:>14}", "system", "conc", "n", "p50 ms", "p95 ms", "per s", "lean speed-up");
    for r in rows {
        let lean = rows.iter().find(|x| x.system == "lean" && x.concurrency == r.concurrency);
        let ratio = lean.map(|l| r.p50_ms / l.p50_ms).unwrap_or(f64::NAN);
        let _ = writeln!(
            s,
            "{:<8}{:>6}{:>6}{:>10.2}{:>10.2}{:>10.1}{:>13.1}x",
            r.system, r.concurrency, r.n, r.p50_ms, r.p95_ms, r.per_s, ratio
        );
    }
    for n in notes {
        let _ = writeln!(s, "note: {n}");
    }
    s
}
