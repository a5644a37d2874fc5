//! Runs a job in N forked worker processes at once and collects each
//! operation's duration over pipes.

use crate::sys::{fs, process};
use std::io::Write;
use std::time::{Duration, Instant};

/// Result of one concurrent run.
#[derive(Debug)]
pub struct Run {
    /// Per-operation latency (ns), all workers together.
    pub latencies_ns: Vec<u64>,
    pub wall: Duration,
    /// Errors reported by workers (one line each).
    pub errors: Vec<String>,
}

/// Forks `workers` processes; worker `k` runs `job(k)`, which returns its
/// operation latencies. The caller must be single-threaded.
pub fn run_workers(
    workers: usize,
    job: impl Fn(usize) -> anyhow::Result<Vec<Duration>>,
) -> anyhow::Result<Run> {
    let started = Instant::now();
    let mut children = Vec::new();
    for k in 0..workers {
        let (r, w) = fs::pipe()?;
        match process::fork()? {
            process::ForkResult::Child => {
                drop(r);
                let mut out = std::fs::File::from(w);
                let code = match job(k) {
                    Ok(ds) => {
                        let text: String =
                            ds.iter().map(|d| format!("{}\n", d.as_nanos())).collect();
                        let _ = out.write_all(text.as_bytes());
                        0
                    }
                    Err(e) => {
                        let _ = out.write_all(format!("error: {e:#}\n").as_bytes());
                        1
                    }
                };
                drop(out);
                process::exit_now(code)
            }
            process::ForkResult::Parent { child } => {
                drop(w);
                children.push((child, r));
            }
        }
    }
    let mut run = Run {
        latencies_ns: Vec::new(),
        wall: Duration::ZERO,
        errors: Vec::new(),
    };
    for (child, r) in children {
        let text = String::from_utf8_lossy(&process::read_to_end(r)?).into_owned();
        process::wait(child)?;
        for line in text.lines() {
            match line.parse::<u64>() {
                Ok(ns) => run.latencies_ns.push(ns),
                Err(_) => run.errors.push(line.to_string()),
            }
        }
    }
    run.wall = started.elapsed();
    Ok(run)
}
