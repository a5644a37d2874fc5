//! The commands of `sock-exec`, one function each, called by the thin
//! binary (`main.rs` parses, sets up logging and signals, calls
//! [`execute`], maps the error to an exit code).

mod docker_worker;
mod install;
mod load;
mod run;
mod worker;

use crate::base::{self, BaseImage, BaseOptions};
use crate::cgroup::{detect, CgroupLayout};
use crate::cli::{BenchCommand, Cli, Command};
use crate::container::{ContainerSpec, Executor, ExecutorConfig};
use anyhow::{Context, Result};
use std::time::Instant;

/// Whether `command` holds containers and so catches SIGINT/SIGTERM to
/// stop at a safe point and tear down (the default action would leave
/// them behind), or, for `load`, to stop sending and still write the
/// records and summary of the calls sent.
pub fn catches_stop_signals(command: &Command) -> bool {
    matches!(
        command,
        Command::Run(_)
            | Command::Worker(_)
            | Command::Invoke { .. }
            | Command::Install(_)
            | Command::Load(_)
            | Command::DockerWorker(_)
    )
}

/// The process exit code for a failed command: 128 + the signal for one
/// stopped by SIGINT/SIGTERM (as a shell reports a process killed by it),
/// else 1.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    let signal = e
        .chain()
        .find_map(|c| match c.downcast_ref::<crate::run::RunError>() {
            Some(crate::run::RunError::Interrupted(sig)) => Some(*sig),
            _ => None,
        })
        .or_else(crate::sys::signal::stop_requested);
    match signal {
        Some(sig) => 128u8.saturating_add((sig as i32).clamp(0, 127) as u8),
        None => 1,
    }
}

/// Fails once SIGINT or SIGTERM arrived (commands check between steps).
pub(crate) fn check_stop() -> Result<()> {
    match crate::sys::signal::stop_requested() {
        Some(sig) => Err(crate::run::RunError::Interrupted(sig).into()),
        None => Ok(()),
    }
}

pub(crate) fn base_root(cli: &Cli) -> std::path::PathBuf {
    cli.state.join("base").join("root")
}

/// The base image's root, or an error telling how to build it.
pub(crate) fn existing_base(cli: &Cli) -> Result<std::path::PathBuf> {
    let root = base_root(cli);
    BaseImage::existing(&root)
        .with_context(|| format!("no base image at {}; run `sock-exec base`", root.display()))?;
    Ok(root)
}

/// Runs the parsed command line.
pub fn execute(cli: &Cli) -> Result<()> {
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
            let root = existing_base(cli)?;
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
        Command::Run(args) => run::run_trace(cli, args),
        Command::Worker(args) => worker::serve(cli, args),
        Command::Packages(args) => install::packages(args),
        Command::Registry(args) => load::registry(args),
        Command::Load(args) => load::load(args),
        Command::Install(args) => install::install(cli, args),
        Command::DockerWorker(args) => docker_worker::docker_worker(cli, args),
        Command::Calibrate(args) => {
            let root = existing_base(cli)?;
            let report = crate::calibrate::run(&cli.state, &root, args)?;
            print!("{report}");
            Ok(())
        }
        Command::Bench {
            command: BenchCommand::Containers(args),
        } => {
            let root = existing_base(cli)?;
            let report = crate::bench::containers::run(&cli.state, &root, args)?;
            print!("{report}");
            Ok(())
        }
        Command::Bench {
            command: BenchCommand::Primitives(args),
        } => primitives(cli, args),
        Command::Bench {
            command: BenchCommand::Zygotes(args),
        } => {
            let root = existing_base(cli)?;
            let opts = crate::bench::zygotes::ZygoteBench {
                n: args.n,
                n_docker: args.n_docker,
                packages: args.packages.clone(),
                modules: args.modules.clone(),
                find_links: args.find_links.clone(),
                docker: !args.no_docker,
                out: args.out.clone(),
            };
            let report = crate::bench::zygotes::run(&cli.state, &root, &opts)?;
            print!("{report}");
            Ok(())
        }
    }
}

fn primitives(cli: &Cli, args: &crate::cli::PrimitivesArgs) -> Result<()> {
    use crate::primitives::{run_all, Config, Experiment};
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
                println!("{}", crate::primitives::output::CSV_HEADER);
                for r in rows {
                    println!("{}", crate::primitives::output::csv_line(r));
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
    let root = crate::sys::process::is_root();
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
