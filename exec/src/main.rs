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
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sock-exec: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn base_root(cli: &Cli) -> std::path::PathBuf {
    cli.state.join("base").join("root")
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
            let root = base_root(&cli);
            BaseImage::existing(&root).with_context(|| {
                format!("no base image at {}; run `sock-exec base`", root.display())
            })?;
            let mut exec = Executor::new(ExecutorConfig::new(cli.state.clone(), root))?;
            let spec = ContainerSpec {
                handler_dir: handler.clone(),
                ..ContainerSpec::default()
            };
            let t0 = Instant::now();
            let mut c = exec.create(&spec)?;
            let t1 = Instant::now();
            let resp = exec.invoke(&mut c, event, Duration::from_secs_f64(*timeout_s));
            let t2 = Instant::now();
            exec.destroy(c)?;
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
        Command::Bench {
            command: BenchCommand::Containers(args),
        } => {
            let root = base_root(&cli);
            BaseImage::existing(&root).with_context(|| {
                format!("no base image at {}; run `sock-exec base`", root.display())
            })?;
            let report = sock_exec::bench::containers::run(&cli.state, &root, args)?;
            print!("{report}");
            Ok(())
        }
        Command::Bench {
            command: BenchCommand::Primitives(args),
        } => primitives(&cli, args),
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
