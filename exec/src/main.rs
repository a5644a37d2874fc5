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
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
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
        Command::Invoke { handler, event, timeout_s } => {
            let root = base_root(&cli);
            BaseImage::existing(&root).with_context(|| format!("no base image at {}; run `sock-exec base`", root.display()))?;
            let mut exec = Executor::new(ExecutorConfig::new(cli.state.clone(), root))?;
            let spec = ContainerSpec { handler_dir: handler.clone(), packages: Vec::new() };
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
        Command::Bench { command: BenchCommand::Containers(args) } => {
            let root = base_root(&cli);
            BaseImage::existing(&root).with_context(|| format!("no base image at {}; run `sock-exec base`", root.display()))?;
            let report = sock_exec::bench::containers::run(&cli.state, &root, args)?;
            print!("{report}");
            Ok(())
        }
    }
}

fn host() -> Result<()> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").context("reading /proc/self/mountinfo")?;
    match detect(&info) {
        CgroupLayout::V1 { controllers } => println!("cgroup     v1 ({} controllers)", controllers.len()),
        CgroupLayout::V2 { mount } => println!("cgroup     v2 at {}", mount.display()),
        CgroupLayout::Hybrid { controllers, unified } => println!(
            "cgroup     hybrid: {} v1 controllers (used), v2 at {}",
            controllers.len(),
            unified.display()
        ),
        CgroupLayout::None => println!("cgroup     none mounted"),
    }
    let root = sock_exec::sys::process::is_root();
    println!("root       {}", if root { "yes (containers possible)" } else { "no (containers need root)" });
    Ok(())
}
