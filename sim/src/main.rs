//! `sim`: parse, dispatch, map errors to an exit code.

use anyhow::{bail, Context, Result};
use clap::Parser;
use sock_sim::cli::{Cli, Command, Format, TraceCommand};
use sock_sim::settings::Settings;
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sim: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Some(Command::Trace { command: TraceCommand::Gen { params, out } }) => {
            // Reject bad flags before creating (and truncating) the output file.
            params.validate()?;
            let summary = if out.as_os_str() == "-" {
                sock_sim::gen::generate(&params, std::io::stdout().lock())?
            } else {
                let f = std::fs::File::create(&out).with_context(|| format!("cannot create {}", out.display()))?;
                sock_sim::gen::generate(&params, f)?
            };
            eprintln!(
                "sim: wrote {} ({} packages, {} functions, {} invocations over {:.1} s)",
                out.display(),
                summary.packages,
                summary.functions,
                summary.invocations,
                summary.span_us as f64 / 1e6
            );
            Ok(())
        }
        None => {
            let args = cli.run;
            let Some(trace) = args.trace.clone() else {
                bail!("no trace given: use `sim --trace traces/pypi.json` (or `sim --help`)");
            };
            let settings = Settings::resolve(&args)?;
            let started = std::time::Instant::now();
            let summary = sock_sim::simulate(&trace, &settings, args.records.as_deref())?;
            tracing::info!(
                invocations = summary.invocations,
                wall_ms = started.elapsed().as_millis() as u64,
                "replay done"
            );
            let text = match args.format.unwrap_or(Format::Text) {
                Format::Text => summary.to_text(),
                Format::Json => serde_json::to_string_pretty(&summary)? + "\n",
            };
            std::io::stdout().lock().write_all(text.as_bytes())?;
            Ok(())
        }
    }
}
