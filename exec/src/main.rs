//! `sock-exec`: parse, dispatch, map errors to an exit code.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use sock_exec::cgroup_detect::{detect, CgroupLayout};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(name = "sock-exec", version, about = "Real SOCK-style lean containers and Zygote forks (in progress)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Report what this host offers: cgroup layout, root, Python.
    Host,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt().with_writer(std::io::stderr).init();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sock-exec: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Host => {
            let info = std::fs::read_to_string("/proc/self/mountinfo").context("reading /proc/self/mountinfo")?;
            match detect(&info) {
                CgroupLayout::V1 { controllers } => println!("cgroup     v1 ({} controllers)", controllers.len()),
                CgroupLayout::V2 { mount } => println!("cgroup     v2 at {}", mount.display()),
                CgroupLayout::Hybrid { controllers, unified } => println!(
                    "cgroup     hybrid: {} v1 controllers, v2 at {}",
                    controllers.len(),
                    unified.display()
                ),
                CgroupLayout::None => println!("cgroup     none mounted"),
            }
            let uid = std::fs::read_to_string("/proc/self/status")
                .ok()
                .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1).unwrap_or("?").to_string()))
                .unwrap_or_else(|| "?".into());
            println!("uid        {uid}{}", if uid == "0" { " (root: containers possible)" } else { " (not root: containers need root)" });
            let py = ["/usr/bin/python3", "/usr/local/bin/python3"].into_iter().find(|p| std::path::Path::new(p).exists());
            println!("python3    {}", py.unwrap_or("not found"));
            Ok(())
        }
    }
}
