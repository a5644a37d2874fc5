//! `sim plan`: the smallest worker (memory, then cores) whose replays
//! meet service-level objectives (`--slo 'p99_startup_ms<=50'`) at a
//! confidence level, written as a settings file that `sim --config` and
//! `sock-exec run --config` both read.
//!
//! - [`objectives`]: `METRIC<=VALUE`, each metric a summary column.
//! - [`bounds`]: one-sided upper bounds (Student's t over traces; the
//!   order statistic or Clopper-Pearson over one trace's calls).
//! - [`evaluate`]: one candidate replayed on every trace (in process,
//!   through `sim sweep`'s grid) and its objectives' bounds.
//! - [`search`]: bisection over memory per core count; the sensitivity
//!   neighbours.
//! - [`report`]: the text or JSON report, the settings file, the commands
//!   that check it.
//!
//! The tier split: sock-core does not divide the worker's memory among
//! the tiers. Busy and idle handlers and the Zygote tree all draw on the
//! one worker memory; the tier budgets (`tiers.handler.budget_mb`,
//! `tiers.zygote.budget_mb`) are caps inside it, and the install cache is
//! disk. `sim plan` searches the worker and keeps the caps as the fixed
//! flags (after `--`) or the defaults set them (`-- --handler-mb 1024
//! --zygote-mb 512`); `--split 0.25,0.5` makes the idle handlers' cap a
//! share of each candidate's memory instead, each share a candidate.

pub mod bounds;
pub mod evaluate;
pub mod objectives;
pub mod report;
pub mod search;

use anyhow::{bail, Result};
use std::path::PathBuf;

/// `sim plan` options.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// The traces: `--trace` files and/or `--build ARGS` / `--gen ARGS`
    /// with `--seeds LIST` (several traces: Student's t bounds over them).
    #[command(flatten)]
    pub traces: crate::sweep::source::TraceSources,
    /// An objective, `METRIC<=VALUE` or `METRIC<VALUE` (repeatable), e.g.
    /// `p99_startup_ms<=50`, `cold_pct<=1`. Metrics: p50/p95/p99_startup_ms,
    /// p50/p95/p99_latency_ms, cold_pct, p50/p75/p90_function_cold_pct,
    /// drop_pct, queue_pct.
    #[arg(long, required = true, value_name = "METRIC<=VALUE")]
    pub slo: Vec<objectives::Objective>,
    /// Confidence level of the upper bounds, in [0.5, 1).
    #[arg(long, default_value_t = 0.95, value_parser = parse_confidence)]
    pub confidence: f64,
    /// Worker memory candidates (MB), comma-separated (default: doubling
    /// from 256 to 65536).
    #[arg(long, value_delimiter = ',')]
    pub memory_mb: Vec<f64>,
    /// Core count candidates, comma-separated (default 1,2,4,8,16).
    #[arg(long, value_delimiter = ',')]
    pub cores: Vec<usize>,
    /// Idle-handler cap (`--handler-mb`) as shares of the worker's memory,
    /// comma-separated, in (0, 1], each a candidate (e.g. 0.25,0.5);
    /// without it the caps are the fixed flags' or the defaults (sock-core
    /// does not split the worker's memory among the tiers).
    #[arg(long, value_delimiter = ',')]
    pub split: Vec<f64>,
    /// The settings file to write for the chosen worker.
    #[arg(long, default_value = "plan.json")]
    pub out: PathBuf,
    /// The report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Worker threads (default: one per core).
    #[arg(long, default_value_t = 0)]
    pub jobs: usize,
    /// sim flags every candidate gets, after `--` (e.g. `-- --policy gdsf
    /// --handler-mb 1024`); not --worker-mb or --cores, which are searched.
    #[arg(last = true)]
    pub fixed: Vec<String>,
}

fn parse_confidence(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if (0.5..1.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "{s:?}: expected a confidence level in [0.5, 1), e.g. 0.95"
        )),
    }
}

/// Flags the search sets, which may not be fixed.
const SEARCHED: [&str; 3] = ["--worker-mb", "--cores", "--max-concurrency"];

/// The search space from the flags, checked.
fn space(args: &PlanArgs) -> Result<search::Space> {
    let mut memory_mb = if args.memory_mb.is_empty() {
        search::Space::default_memory()
    } else {
        args.memory_mb.clone()
    };
    let mut cores = if args.cores.is_empty() {
        search::Space::default_cores()
    } else {
        args.cores.clone()
    };
    if let Some(m) = memory_mb.iter().find(|m| !(m.is_finite() && **m > 0.0)) {
        bail!("--memory-mb {m}: a memory must be a number above 0");
    }
    if cores.contains(&0) {
        bail!("--cores 0: a worker has at least one core");
    }
    memory_mb.sort_by(f64::total_cmp);
    memory_mb.dedup();
    cores.sort_unstable();
    cores.dedup();
    let mut split = args.split.clone();
    if let Some(s) = split.iter().find(|s| !(**s > 0.0 && **s <= 1.0)) {
        bail!("--split {s}: a share of the worker's memory is in (0, 1]");
    }
    if !split.is_empty() && args.fixed.iter().any(|f| f.starts_with("--handler-mb")) {
        bail!("--split sets the idle handlers' cap (--handler-mb) from each candidate's memory; give one or the other");
    }
    split.sort_by(f64::total_cmp);
    split.dedup();
    let shares = if split.is_empty() {
        vec![None]
    } else {
        split.into_iter().map(Some).collect()
    };
    Ok(search::Space {
        memory_mb,
        cores,
        shares,
    })
}

/// Runs the plan and prints its report; an error (after the report) when
/// no candidate meets the objectives.
pub fn run(args: &PlanArgs) -> Result<()> {
    if let Some(f) = args.fixed.iter().find(|f| {
        SEARCHED
            .iter()
            .any(|s| f == s || f.starts_with(&format!("{s}=")))
    }) {
        bail!("{f} after `--`: sim plan searches the worker's memory and cores; give candidates with --memory-mb and --cores");
    }
    let space = space(args)?;
    let sources = args.traces.expand()?;
    if sources.is_empty() {
        bail!("no trace given: --trace T (repeatable), or --build ARGS / --gen ARGS with --seeds LIST");
    }
    let started = std::time::Instant::now();
    let ev = evaluate::Evaluator::new(
        sources.clone(),
        args.fixed.clone(),
        args.slo.clone(),
        args.confidence,
        space.expected_evaluations(),
    )?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.jobs)
        .build()?;
    let result = pool.install(|| -> Result<report::Plan> {
        let found = search::search(&ev, &space)?;
        let neighbours = match &found.chosen {
            Some((i, _)) => search::sensitivity(&ev, &space, *i)?,
            None => Vec::new(),
        };
        Ok(report::Plan::new(
            args,
            &sources,
            &space,
            &ev,
            found,
            neighbours,
            started.elapsed(),
        ))
    });
    ev.done();
    let plan = result?;
    for w in report::unbounded(&plan) {
        eprintln!("sim plan: WARNING: {w}");
    }
    if let Some(chosen) = &plan.chosen_settings {
        report::write_settings(&args.out, chosen, &args.traces.trace)?;
    }
    let text = if args.json {
        serde_json::to_string_pretty(&plan)? + "\n"
    } else {
        plan.to_text()
    };
    use std::io::Write;
    std::io::stdout().lock().write_all(text.as_bytes())?;
    if let Some(why) = plan.failure() {
        bail!("{why}");
    }
    Ok(())
}
