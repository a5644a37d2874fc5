//! `sock-exec run`: reads the trace and settings, replays on real tiers.

use crate::cli::Cli;
use crate::container::{Executor, ExecutorConfig};
use anyhow::{Context, Result};

pub(super) fn read_trace(
    path: &std::path::Path,
) -> Result<(
    sock_core::trace::Catalog,
    sock_core::trace::Invocations<std::io::BufReader<std::fs::File>>,
)> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot open trace {}", path.display()))?;
    let reader = sock_core::trace::TraceReader::new(
        std::io::BufReader::with_capacity(1 << 20, file),
        path.display().to_string(),
    )?;
    Ok(reader.into_parts())
}

pub(super) fn run_trace(cli: &Cli, args: &crate::cli::RunArgs) -> Result<()> {
    use crate::run::{replay, RunOptions, Runner};
    let root = super::existing_base(cli)?;
    // Read and checked as `sim` reads them (sock-core's one merge).
    let mut settings = sock_core::config::load_settings(
        args.config.as_deref(),
        args.calibration.as_deref(),
        |p| std::fs::File::open(p),
    )?;
    settings.check()?;
    let tree = sock_core::config::load_tree(&settings, |p| std::fs::File::open(p))?;
    let (catalog, invocations) = read_trace(&args.trace)?;
    let python = crate::base::python_version(&root)
        .with_context(|| format!("no python3.N under {}/usr/lib", root.display()))?;
    let source = match &args.find_links {
        Some(d) => crate::install::Source::FindLinks(d.clone()),
        None => crate::install::Source::Index,
    };
    let opts = RunOptions {
        work_dir: args.work.clone().unwrap_or_else(|| cli.state.join("run")),
        source,
        python_version: python,
        speedup: args.speedup,
        timeout: args.timeout_s,
        progress_every: args.progress,
        worker: settings.worker.clone(),
        concurrent: args.concurrent,
        handler_dirs: None,
        from_clients: false,
    };
    let mut config = ExecutorConfig::new(cli.state.clone(), root);
    config.cgroup_prefix = "sock-exec-run".into();
    let mut exec = Executor::new(config)?;
    let runner = Runner::new(
        &mut exec,
        &catalog,
        settings.cost.clone(),
        settings.tiers.clone(),
        tree.as_ref(),
        opts,
    )?;
    let mut out = match &args.records {
        Some(p) => Some(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => None,
    };
    let summary = replay(
        runner,
        invocations,
        args.limit,
        out.as_mut().map(|w| w as &mut dyn std::io::Write),
    )?;
    if let Some(mut w) = out {
        std::io::Write::flush(&mut w)?;
    }
    exec.shutdown()?;
    match args.format {
        crate::cli::SummaryFormat::Json => {
            println!("{}", serde_json::to_string_pretty(&summary)?)
        }
        crate::cli::SummaryFormat::Text => print!("{}", summary.render()),
    }
    Ok(())
}
