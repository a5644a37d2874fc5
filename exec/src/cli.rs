//! Command-line interface of `sock-exec` (clap derive).

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "sock-exec",
    version,
    about = "SOCK-style lean containers on this host: base image, lifecycle, benchmarks"
)]
pub struct Cli {
    /// State folder: base image, container folders.
    #[arg(long, global = true, default_value = "/var/lib/sock-exec")]
    pub state: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Report what this host offers: cgroup layout, root, Python.
    Host,
    /// Build (or reuse) the read-only base image with debootstrap.
    Base {
        /// Rebuild even if a complete image exists.
        #[arg(long)]
        rebuild: bool,
        #[arg(long, default_value = "http://deb.debian.org/debian")]
        mirror: String,
    },
    /// Create a lean container for a handler folder, invoke it once, destroy it.
    Invoke {
        /// Folder holding f.py with `def f(event)`.
        #[arg(long)]
        handler: PathBuf,
        /// The JSON event.
        #[arg(long, default_value = "{}")]
        event: String,
        #[arg(long, default_value_t = 30.0)]
        timeout_s: f64,
    },
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Lean container create + no-op invocation + destroy vs Docker and runc.
    Containers(ContainersArgs),
    /// SOCK §2's Linux primitives study on this kernel (netns, mount count,
    /// bind vs overlay, cgroup reuse, chroot vs pivot_root).
    Primitives(PrimitivesArgs),
}

#[derive(Debug, Args)]
pub struct PrimitivesArgs {
    /// Output folder for the CSVs and plots.
    #[arg(long, default_value = "bench-out/primitives")]
    pub out: PathBuf,
    /// Scratch folder for dummy mounts and overlay dirs.
    #[arg(long, default_value = "/var/tmp")]
    pub scratch: PathBuf,
    /// Only these experiments (netns, mount_count, bind_overlay, cgroup, root).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// A few iterations only (a smoke run).
    #[arg(long)]
    pub quick: bool,
}

#[derive(Debug, Args)]
pub struct ContainersArgs {
    /// Iterations per configuration.
    #[arg(short, long, default_value_t = 200)]
    pub n: usize,
    /// Iterations for Docker (much slower).
    #[arg(long, default_value_t = 40)]
    pub n_docker: usize,
    /// Concurrency levels.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
    pub concurrency: Vec<usize>,
    /// Output folder for the CSV and plot.
    #[arg(long, default_value = "bench-out/containers")]
    pub out: PathBuf,
    #[arg(long)]
    pub no_docker: bool,
    #[arg(long)]
    pub no_runc: bool,
}
