//! `sock-exec registry --from-trace` and `sock-exec load`: a trace's
//! functions as a worker's registry folder, and the trace replayed over
//! HTTP against that worker (issue 13, item 2).

use crate::cli::{LoadArgs, RegistryArgs, SummaryFormat};
use crate::worker::from_trace::{registry_names, write_registry};
use crate::worker::load::{replay, LoadOptions, Target};
use anyhow::{Context, Result};
use std::time::Duration;

pub(super) fn registry(args: &RegistryArgs) -> Result<()> {
    let (catalog, _) = super::run::read_trace(&args.from_trace)?;
    let trace_name = args
        .from_trace
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let written = write_registry(&catalog, &trace_name, &args.out, args.find_links.as_deref())?;
    for r in &written.names.renamed {
        println!(
            "renamed   function {} {:?} -> {} ({})",
            r.function, r.trace_name, r.registry_name, r.why
        );
    }
    // What the worker will read, checked now rather than at its start.
    crate::worker::registry::Registry::load(&args.out)
        .context("the registry written does not load")?;
    println!(
        "wrote {} functions ({} pins, {} renamed) to {}",
        written.functions,
        written.pins,
        written.names.renamed.len(),
        args.out.display()
    );
    Ok(())
}

pub(super) fn load(args: &LoadArgs) -> Result<()> {
    let (catalog, invocations) = super::run::read_trace(&args.trace)?;
    let names = registry_names(&catalog);
    if !names.renamed.is_empty() {
        eprintln!(
            "load: {} functions have another registry name (as `sock-exec registry --from-trace` wrote them)",
            names.renamed.len()
        );
    }
    let opts = LoadOptions {
        target: Target::parse(&args.url)?,
        url: args.url.clone(),
        speedup: args.speedup,
        limit: args.limit,
        concurrency: args.concurrency_cap,
        timeout: args.timeout_s,
        progress_every: (args.progress_s > 0).then(|| Duration::from_secs(args.progress_s)),
    };
    let mut out = match &args.records {
        Some(p) => Some(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => None,
    };
    let stop = || crate::sys::signal::stop_requested().map(|s| format!("by {s}"));
    let summary = replay(
        &catalog,
        &names.names,
        invocations,
        &opts,
        out.as_mut().map(|w| w as &mut dyn std::io::Write),
        &stop,
    )?;
    match args.format {
        SummaryFormat::Json => println!("{}", serde_json::to_string_pretty(&summary)?),
        SummaryFormat::Text => print!("{}", summary.render()),
    }
    if let Some(why) = &summary.interrupted {
        anyhow::bail!(
            "stopped {why} after sending {} invocations (the records and summary cover them)",
            summary.sent
        );
    }
    Ok(())
}
