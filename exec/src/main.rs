//! `sock-exec`: parse, dispatch, map errors to an exit code.

use anyhow::{Context, Result};
use clap::Parser;
use sock_exec::base::{self, BaseImage, BaseOptions};
use sock_exec::cgroup::{detect, CgroupLayout};
use sock_exec::cli::{BenchCommand, Cli, Command};
use sock_exec::container::{ContainerSpec, Executor, ExecutorConfig};
use std::process::ExitCode;
use std::time::{Duration, Instant};

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    // Commands that hold containers stop at a safe point on SIGINT/SIGTERM
    // and tear everything down (the default action would leave them).
    if matches!(
        cli.command,
        Command::Run(_) | Command::Invoke { .. } | Command::Install(_)
    ) {
        if let Err(e) = sock_exec::sys::signal::catch_stop_signals() {
            eprintln!("sock-exec: error: {e}");
            return ExitCode::FAILURE;
        }
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sock-exec: error: {e:#}");
            exit_code(&e)
        }
    }
}

/// 128 + the signal for a run stopped by SIGINT/SIGTERM (as a shell
/// reports a process killed by it), else 1.
fn exit_code(e: &anyhow::Error) -> ExitCode {
    let signal = e
        .chain()
        .find_map(|c| match c.downcast_ref::<sock_exec::run::RunError>() {
            Some(sock_exec::run::RunError::Interrupted(sig)) => Some(*sig),
            _ => None,
        })
        .or_else(sock_exec::sys::signal::stop_requested);
    match signal {
        Some(sig) => ExitCode::from(128u8.saturating_add((sig as i32).clamp(0, 127) as u8)),
        None => ExitCode::FAILURE,
    }
}

/// Fails once SIGINT or SIGTERM arrived (commands check between steps).
fn check_stop() -> Result<()> {
    match sock_exec::sys::signal::stop_requested() {
        Some(sig) => Err(sock_exec::run::RunError::Interrupted(sig).into()),
        None => Ok(()),
    }
}

fn base_root(cli: &Cli) -> std::path::PathBuf {
    cli.state.join("base").join("root")
}

/// The base image's root, or an error telling how to build it.
fn existing_base(cli: &Cli) -> Result<std::path::PathBuf> {
    let root = base_root(cli);
    BaseImage::existing(&root)
        .with_context(|| format!("no base image at {}; run `sock-exec base`", root.display()))?;
    Ok(root)
}

fn run(cli: Cli) -> Result<()> {
    match &cli.command {
        Command::Host => host(),
        Command::Base { rebuild, mirror } => {
            let mut opts = BaseOptions::new(cli.state.join("base"));
            opts.rebuild = *rebuild;
            opts.mirror = mirror.clone();
            let started = Instant::now();
            let img = base::prepare(&opts)?;
            println!(
                "base image {} ({}, {:.1} s)",
                img.root.display(),
                if img.built { "built" } else { "cached" },
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::Invoke {
            handler,
            event,
            timeout_s,
        } => {
            let root = existing_base(&cli)?;
            let mut exec = Executor::new(ExecutorConfig::new(cli.state.clone(), root))?;
            let spec = ContainerSpec {
                handler_dir: handler.clone(),
                ..ContainerSpec::default()
            };
            let t0 = Instant::now();
            let mut c = exec.create(&spec)?;
            let t1 = Instant::now();
            let resp = exec.invoke(&mut c, event, *timeout_s);
            let t2 = Instant::now();
            exec.destroy(c)?;
            check_stop()?;
            let t3 = Instant::now();
            let resp = resp?;
            println!("status {}\n{}", resp.status, resp.body);
            eprintln!(
                "create {:.2} ms, invoke {:.2} ms, destroy {:.2} ms",
                (t1 - t0).as_secs_f64() * 1e3,
                (t2 - t1).as_secs_f64() * 1e3,
                (t3 - t2).as_secs_f64() * 1e3
            );
            exec.shutdown()?;
            Ok(())
        }
        Command::Run(args) => run_trace(&cli, args),
        Command::Packages(args) => packages(args),
        Command::Install(args) => install(&cli, args),
        Command::Calibrate(args) => {
            let root = existing_base(&cli)?;
            let report = sock_exec::calibrate::run(&cli.state, &root, args)?;
            print!("{report}");
            Ok(())
        }
        Command::Bench {
            command: BenchCommand::Containers(args),
        } => {
            let root = existing_base(&cli)?;
            let report = sock_exec::bench::containers::run(&cli.state, &root, args)?;
            print!("{report}");
            Ok(())
        }
        Command::Bench {
            command: BenchCommand::Primitives(args),
        } => primitives(&cli, args),
        Command::Bench {
            command: BenchCommand::Zygotes(args),
        } => {
            let root = existing_base(&cli)?;
            let opts = sock_exec::bench::zygotes::ZygoteBench {
                n: args.n,
                n_docker: args.n_docker,
                packages: args.packages.clone(),
                modules: args.modules.clone(),
                find_links: args.find_links.clone(),
                docker: !args.no_docker,
                out: args.out.clone(),
            };
            let report = sock_exec::bench::zygotes::run(&cli.state, &root, &opts)?;
            print!("{report}");
            Ok(())
        }
    }
}

fn primitives(cli: &Cli, args: &sock_exec::cli::PrimitivesArgs) -> Result<()> {
    use sock_exec::primitives::{run_all, Config, Experiment};
    let root = base_root(cli);
    let rootfs = BaseImage::existing(&root).map(|b| b.root);
    if rootfs.is_none() {
        eprintln!(
            "sock-exec: no base image at {}; chroot vs pivot_root needs one (run `sock-exec base`)",
            root.display()
        );
    }
    let cfg = if args.quick {
        Config::tiny(&args.scratch, rootfs.as_deref())
    } else {
        Config::full(&args.scratch, rootfs.as_deref())
    };
    let experiments: Vec<Experiment> = if args.only.is_empty() {
        Experiment::ALL.to_vec()
    } else {
        args.only
            .iter()
            .map(|n| Experiment::from_name(n).with_context(|| format!("unknown experiment {n:?}")))
            .collect::<Result<_>>()?
    };
    let outcomes = run_all(&cfg, &experiments, &args.out)?;
    let mut failed = 0;
    for o in &outcomes {
        match &o.rows {
            Ok(rows) => {
                println!("== {} ==", o.experiment.name());
                println!("{}", sock_exec::primitives::output::CSV_HEADER);
                for r in rows {
                    println!("{}", sock_exec::primitives::output::csv_line(r));
                }
                if let Some(e) = &o.plot_error {
                    println!("(no plot: {e})");
                }
            }
            Err(e) => {
                failed += 1;
                println!("== {} == FAILED: {e}", o.experiment.name());
            }
        }
    }
    println!("wrote CSVs and plots to {}", args.out.display());
    if failed > 0 {
        anyhow::bail!("{failed} experiment(s) failed");
    }
    Ok(())
}

fn read_trace(
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

fn read_json<T: serde::de::DeserializeOwned>(path: &std::path::Path, what: &str) -> Result<T> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {what} {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{what} {} is not valid", path.display()))
}

fn run_trace(cli: &Cli, args: &sock_exec::cli::RunArgs) -> Result<()> {
    use sock_exec::run::{replay, RunOptions, Runner};
    let root = existing_base(cli)?;
    let mut settings: sock_core::config::Settings = match &args.config {
        Some(p) => read_json(p, "config file")?,
        None => Default::default(),
    };
    if let Some(p) = &args.calibration {
        settings.cost = read_json(p, "calibration file")?;
    }
    if settings.replay.max_concurrency.is_some() {
        anyhow::bail!(
            "replay.max_concurrency is a sim-only setting: sock-exec run replays with unlimited \
             virtual concurrency; remove it from the config to compare the two"
        );
    }
    let tree: Option<sock_core::zygote::StaticTreeNode> = match &settings.zygote_tree {
        Some(p) => Some(read_json(p, "Zygote tree file")?),
        None => None,
    };
    let (catalog, invocations) = read_trace(&args.trace)?;
    let python = sock_exec::base::python_version(&root)
        .with_context(|| format!("no python3.N under {}/usr/lib", root.display()))?;
    let source = match &args.find_links {
        Some(d) => sock_exec::install::Source::FindLinks(d.clone()),
        None => sock_exec::install::Source::Index,
    };
    let opts = RunOptions {
        work_dir: args.work.clone().unwrap_or_else(|| cli.state.join("run")),
        source,
        python_version: python,
        speedup: args.speedup,
        timeout: args.timeout_s,
        progress_every: args.progress,
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
        sock_exec::cli::SummaryFormat::Json => {
            println!("{}", serde_json::to_string_pretty(&summary)?)
        }
        sock_exec::cli::SummaryFormat::Text => print!("{}", summary.render()),
    }
    Ok(())
}

fn install(cli: &Cli, args: &sock_exec::cli::InstallArgs) -> Result<()> {
    use sock_exec::install::{build, InstallError, Installer, Source};
    let root = existing_base(cli)?;
    let python = sock_exec::base::python_version(&root)
        .with_context(|| format!("no python3.N under {}/usr/lib", root.display()))?;
    let source = match &args.find_links {
        Some(d) => Source::FindLinks(d.clone()),
        None => Source::Index,
    };
    let cache = args
        .cache
        .clone()
        .unwrap_or_else(|| cli.state.join("packages"));
    let installer = Installer::new(&cache, source, &python)?;
    let keys = if args.no_deps {
        args.keys.clone()
    } else {
        installer.resolve(&args.keys).with_context(|| {
            "resolving the dependency closure (wheels only); install exact pins with --no-deps \
             to build source-only packages"
        })?
    };
    let mut exec: Option<Executor> = None;
    let mut names = std::collections::BTreeSet::new();
    let mut needs = Vec::new();
    for key in &keys {
        check_stop()?;
        let got = match installer.install(key) {
            Err(InstallError::NoWheel { .. }) => {
                eprintln!("{key}: no wheel fits CPython {python}; building from source in a lean container");
                if exec.is_none() {
                    let mut config = ExecutorConfig::new(cli.state.clone(), root.clone());
                    config.cgroup_prefix = "sock-exec-install".into();
                    exec = Some(Executor::new(config)?);
                }
                let ex = exec.as_mut().context("executor")?;
                build::build_from_source(ex, &installer, key, Duration::from_secs(900))?
            }
            other => other?,
        };
        names.insert(sock_exec::install::canonical_name(
            got.key
                .split_once("==")
                .map_or(got.key.as_str(), |(n, _)| n),
        ));
        needs.extend(
            installer
                .requires(&got.key)?
                .into_iter()
                .map(|r| (got.key.clone(), r)),
        );
        println!(
            "{} {} in {:.2} s: modules {} at {}",
            got.key,
            if got.reused { "cached" } else { "installed" },
            got.elapsed.as_secs_f64(),
            got.modules.join(","),
            got.path.display()
        );
    }
    if let Some(ex) = exec {
        ex.shutdown()?;
    }
    // The closure, checked against the installed metadata (Requires-Dist;
    // environment markers other than extras are not evaluated).
    let missing: Vec<String> = needs
        .iter()
        .filter(|(_, dep)| !names.contains(&sock_exec::install::canonical_name(dep)))
        .map(|(by, dep)| format!("{dep} (required by {by})"))
        .collect();
    if missing.is_empty() {
        println!(
            "closure complete: every Requires-Dist of the {} packages is installed",
            keys.len()
        );
    } else {
        println!(
            "not installed, though required (markers other than extras are not evaluated): {}",
            missing.join(", ")
        );
    }
    Ok(())
}

fn packages(args: &sock_exec::cli::PackagesArgs) -> Result<()> {
    use sock_exec::install::wheel::{build_wheels, TestPackage};
    let (catalog, _) = read_trace(&args.trace)?;
    let pkgs: Vec<TestPackage> = (0..catalog.package_count())
        .map(|i| {
            let p = catalog.package(sock_core::PackageId(i as u32));
            let mut t = TestPackage::new(&p.name, &p.version);
            t.import_ms = p.import_ms * args.import_scale;
            t.import_mb = p.import_mb;
            t.requires = p
                .deps
                .iter()
                .map(|&d| catalog.package(sock_core::PackageId(d)).name.clone())
                .collect();
            t
        })
        .collect();
    let files = build_wheels(&args.out, &pkgs)?;
    println!(
        "wrote {} wheels to {} (import times x{})",
        files.len(),
        args.out.display(),
        args.import_scale
    );
    Ok(())
}

fn host() -> Result<()> {
    let info =
        std::fs::read_to_string("/proc/self/mountinfo").context("reading /proc/self/mountinfo")?;
    match detect(&info) {
        CgroupLayout::V1 { controllers } => {
            println!("cgroup     v1 ({} controllers)", controllers.len())
        }
        CgroupLayout::V2 { mount } => println!("cgroup     v2 at {}", mount.display()),
        CgroupLayout::Hybrid {
            controllers,
            unified,
        } => println!(
            "cgroup     hybrid: {} v1 controllers (used), v2 at {}",
            controllers.len(),
            unified.display()
        ),
        CgroupLayout::None => println!("cgroup     none mounted"),
    }
    let root = sock_exec::sys::process::is_root();
    println!(
        "root       {}",
        if root {
            "yes (containers possible)"
        } else {
            "no (containers need root)"
        }
    );
    Ok(())
}
