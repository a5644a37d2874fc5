//! `sim`: parse, dispatch, map errors to an exit code.

use anyhow::{bail, Context, Result};
use clap::Parser;
use sock_sim::cli::{CalibrateArgs, Cli, Command, CompareArgs, Format, TraceCommand};
use sock_sim::output;
use std::io::Write;
use std::path::{Path, PathBuf};
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
        Some(Command::Trace {
            command: TraceCommand::Gen { params, out },
        }) => {
            // Reject bad flags before creating (and truncating) the output file.
            params.validate()?;
            let summary = if out.as_os_str() == "-" {
                sock_sim::gen::generate(&params, std::io::stdout().lock())?
            } else {
                // Whole or not at all: a temporary file renamed at the end.
                output::write_atomically(&out, &[], |w| sock_sim::gen::generate(&params, w))?
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
        Some(Command::Trace {
            command: TraceCommand::Build { params, out },
        }) => build_trace(&params, &out),
        Some(Command::Trace {
            command: TraceCommand::Stats { params },
        }) => study(&params),
        Some(Command::Compare(args)) => compare(&args),
        Some(Command::Calibrate(args)) => calibrate(&args),
        Some(Command::Sweep(args)) => sweep(args),
        Some(Command::Mrc(args)) => mrc(&args),
        Some(Command::Plan(args)) => sock_sim::plan::run(&args),
        Some(Command::Plot(args)) => sock_sim::plot::run(&args),
        None => {
            let args = cli.run;
            let Some(trace) = args.trace.clone() else {
                bail!("no trace given: use `sim --trace traces/pypi.json` (or `sim --help`)");
            };
            let settings = sock_sim::settings::resolve(&args)?;
            if let Some(r) = &args.records {
                // The trace and tree are checked by `simulate`.
                let mut inputs: Vec<output::Input> = Vec::new();
                if let Some(c) = &args.config {
                    inputs.push(("config file", c));
                }
                if let Some(c) = &args.calibration {
                    inputs.push(("calibration file", c));
                }
                output::Output::new(r, &inputs)?;
            }
            let started = std::time::Instant::now();
            let outputs = sock_sim::Outputs {
                records: args.records.as_deref(),
                memory_series: args.memory_series.as_deref(),
            };
            let summary = sock_sim::simulate_with(&trace, &settings, outputs)?;
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

/// `sim trace build`: report on stderr (stdout may be the trace itself).
fn build_trace(params: &sock_sim::build::BuildParams, out: &Path) -> Result<()> {
    // Resolve the inputs before creating the output file.
    let inputs = params.resolve()?;
    let started = std::time::Instant::now();
    let report = if out.as_os_str() == "-" {
        sock_sim::build::build(params, std::io::stdout().lock())?
    } else {
        let mut named: Vec<output::Input> = vec![
            ("invocations file", &inputs.invocations),
            ("durations file", &inputs.durations),
            ("memory file", &inputs.memory),
            ("requirements file", &inputs.requirements),
            ("install_import file", &inputs.install_import),
        ];
        if let Some(d) = &inputs.deps {
            named.push(("deps file", d));
        }
        // Written beside the target and renamed at the end, so a failed
        // build leaves no half-written trace behind.
        output::write_atomically(out, &named, |w| -> Result<_> {
            Ok(sock_sim::build::build(params, w)?)
        })?
    };
    eprint!("{}", report.warnings.to_text(10));
    eprint!("{}", report.to_text());
    eprintln!(
        "sim: wrote {} in {:.2} s",
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `sim trace stats`: the study on stdout, files listed on stderr.
fn study(params: &sock_sim::study::StudyParams) -> Result<()> {
    let (study, outputs) = sock_sim::study::run(params)?;
    std::io::stdout()
        .lock()
        .write_all(study.to_text().as_bytes())?;
    eprintln!(
        "sim: wrote {} files to {}",
        outputs.files.len(),
        outputs.dir.display()
    );
    Ok(())
}

/// `sim compare`: the report on stdout (text or JSON), the CSV table on request.
fn compare(args: &CompareArgs) -> Result<()> {
    use sock_sim::compare;
    let predicted = compare::load_records_with_lines(&args.predicted)?;
    let measured = compare::load_records_with_lines(&args.measured)?;
    sock_sim::record_check::same_invocations(
        &predicted,
        &args.predicted,
        &measured,
        &args.measured,
    )?;
    let predicted: Vec<_> = predicted.into_iter().map(|(_, r)| r).collect();
    let measured: Vec<_> = measured.into_iter().map(|(_, r)| r).collect();
    let report =
        compare::compare(&predicted, &measured).with_files(&args.predicted, &args.measured);
    if report.counts.matched == 0 {
        bail!(
            "no record matches by seq: {} has {} records, {} has {}",
            args.predicted.display(),
            predicted.len(),
            args.measured.display(),
            measured.len()
        );
    }
    if let Some(csv) = &args.csv {
        let inputs = [
            ("predicted records", args.predicted.as_path()),
            ("measured records", args.measured.as_path()),
        ];
        output::write_atomically(csv, &inputs, |w| -> Result<()> {
            Ok(w.write_all(compare::render_csv(&report).as_bytes())?)
        })?;
    }
    let text = match args.format {
        Format::Text => compare::render_text(&report),
        Format::Json => serde_json::to_string_pretty(&report)? + "\n",
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    let failed = compare::gate(
        &report,
        compare::Bounds {
            max_median_pct: args.max_median_error,
            max_p95_pct: args.max_p95_error,
            max_p50_shift_pct: args.max_p50_shift,
            max_p95_shift_pct: args.max_p95_shift,
            min_agreement_pct: args.min_agreement,
        },
    );
    if !failed.is_empty() {
        bail!(
            "the comparison is out of bounds:\n  {}",
            failed.join("\n  ")
        );
    }
    Ok(())
}

fn calibrate(args: &CalibrateArgs) -> Result<()> {
    let n = args.from.len();
    let traces = per_run("--trace", &args.trace, n)?;
    let configs = per_run("--config", &args.config, n)?;
    let mut runs = Vec::new();
    let mut inputs: Vec<output::Input> = Vec::new();
    for (i, measured) in args.from.iter().enumerate() {
        let (trace, config) = (traces[i], configs.get(i).copied());
        let run = sock_sim::cli::RunArgs {
            trace: Some(trace.clone()),
            config: config.cloned(),
            calibration: args.calibration.clone(),
            ..Default::default()
        };
        let settings = sock_sim::settings::resolve(&run)
            .with_context(|| format!("run {} (--from {})", i + 1, measured.display()))?;
        inputs.push(("trace", trace));
        inputs.push(("measured records", measured));
        if let Some(c) = config {
            inputs.push(("config file", c));
        }
        runs.push(sock_sim::calibrate::Run {
            trace: trace.clone(),
            settings,
            measured: measured.clone(),
        });
    }
    if let Some(c) = &args.calibration {
        inputs.push(("calibration file", c));
    }
    let out = output::Output::new(&args.out, &inputs)?;
    let (report, fitted) = sock_sim::calibrate::calibrate(
        &runs,
        sock_sim::calibrate::FitOptions {
            confidence: args.confidence,
            estimator: args.fit,
            noise_seed: (!args.no_noise).then_some(args.noise_seed),
        },
    )?;
    {
        let mut f = std::io::BufWriter::new(out.create()?);
        serde_json::to_writer_pretty(&mut f, &fitted)?;
        writeln!(f)?;
        f.flush().map_err(|e| out.write_err(e))?;
    }
    out.commit()?;
    match args.format {
        Format::Text => print!("{}", sock_sim::calibrate::render_text(&report)),
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    eprintln!("sim: wrote {}", args.out.display());
    Ok(())
}

/// A `sim calibrate` flag given once for every run or once per `--from`
/// (`None`-able flags may also be absent: then the list is empty).
fn per_run<'a>(flag: &str, given: &'a [PathBuf], runs: usize) -> Result<Vec<&'a PathBuf>> {
    match given.len() {
        0 => Ok(Vec::new()),
        1 => Ok(vec![&given[0]; runs]),
        k if k == runs => Ok(given.iter().collect()),
        k => bail!(
            "{flag} is given {k} times for {runs} --from runs: give it once (for every run) or once per --from, in the same order"
        ),
    }
}

/// `sim sweep` and `sim sweep merge`.
fn sweep(args: sock_sim::cli::SweepArgs) -> Result<()> {
    use sock_sim::cli::SweepCommand;
    use sock_sim::sweep;
    match args.command {
        Some(SweepCommand::Merge {
            parts,
            out,
            parquet,
        }) => {
            let n = sweep::merge(&parts, &out, parquet.as_deref())?;
            eprintln!(
                "sim: sweep merge wrote {} ({n} rows from {} parts)",
                out.display(),
                parts.len()
            );
            return Ok(());
        }
        Some(SweepCommand::Summarize {
            input,
            out,
            confidence,
        }) => {
            let (configs, single) = sweep::summarize::run(&input, &out, confidence)?;
            eprintln!(
                "sim: sweep summarize wrote {} ({configs} configurations; {single} with one row each, so no interval)",
                out.display()
            );
            return Ok(());
        }
        None => {}
    }
    let Some(out) = args.out else {
        bail!("--out is required: the CSV the sweep writes (its journal goes beside it)");
    };
    let shard = args
        .shard
        .as_deref()
        .map(|s| sweep::grid::Shard::parse(s, |v| std::env::var(v).ok()))
        .transpose()
        .map_err(|e| anyhow::anyhow!("--shard {e}"))?;
    let traces = args.traces.expand()?;
    let spec = sweep::SweepSpec {
        traces,
        axes: args.axis,
        fixed: args.fixed,
        out,
        parquet: args.parquet,
        shard,
        jobs: args.jobs,
    };
    let started = std::time::Instant::now();
    let (rows, ran) = sweep::run(&spec)?;
    eprintln!(
        "sim: sweep wrote {} ({rows} rows: {ran} replayed now, {} from its journal) in {:.1} s",
        spec.out.display(),
        rows - ran,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `sim mrc`: the curve on stdout, the CSV on request.
fn mrc(args: &sock_sim::cli::MrcArgs) -> Result<()> {
    use sock_sim::mrc;
    if !(args.sample_rate > 0.0 && args.sample_rate <= 1.0) {
        bail!(
            "--sample-rate is {}; it must be in (0, 1]",
            args.sample_rate
        );
    }
    let grid = if args.mb.is_empty() {
        mrc::curve::linear_grid(args.mb_from, args.mb_to, args.points)
    } else {
        args.mb.clone()
    };
    let curve = if args.one_pass {
        mrc::run_one_pass(&args.trace, &grid, args.sample_rate)?
    } else {
        mrc::run(&args.trace, &grid, args.sample_rate)?
    };
    if let Some(out) = &args.out {
        output::write_atomically(out, &[("trace", args.trace.as_path())], |w| -> Result<()> {
            Ok(w.write_all(curve.to_csv().as_bytes())?)
        })?;
    }
    let text = if args.json {
        serde_json::to_string_pretty(&curve)? + "\n"
    } else {
        curve.to_text()
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
}
