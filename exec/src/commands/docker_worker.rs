//! `sock-exec docker-worker`: set up the Docker worker baseline, serve
//! until SIGINT/SIGTERM, remove its containers.

use crate::baseline::docker_worker::{Config, Worker};
use crate::cli::{Cli, DockerWorkerArgs};
use anyhow::{Context, Result};

pub(super) fn docker_worker(cli: &Cli, args: &DockerWorkerArgs) -> Result<()> {
    let rootfs = super::existing_base(cli)?;
    let python_version = crate::base::python_version(&rootfs)
        .with_context(|| format!("no python3.N under {}/usr/lib", rootfs.display()))?;
    let cfg = Config {
        registry: args.registry.clone(),
        listen: args.listen.clone(),
        port: args.port,
        warm_pool: args.warm_pool,
        pause_idle: args.pause_idle,
        pause_grace: std::time::Duration::from_millis(args.pause_grace_ms),
        rootfs,
        packages: args
            .packages
            .clone()
            .unwrap_or_else(|| cli.state.join("packages")),
        python_version,
        work_dir: cli.state.join("docker-worker"),
        timeout: args.timeout_s,
    };
    let worker = Worker::new(&cfg).context("setting up the docker worker")?;
    let addr = worker.local_addr()?;
    // The line scripts and tests wait for (stdout, flushed).
    println!(
        "docker-worker listening on http://{addr} (instance {}, warm pool {}, pause idle {}, pause grace {} ms)",
        worker.instance(),
        cfg.warm_pool,
        cfg.pause_idle,
        args.pause_grace_ms
    );
    use std::io::Write;
    std::io::stdout().flush()?;
    // A stop signal is how a server ends: exit 0 once every container
    // is removed.
    worker.serve(&|| crate::sys::signal::stop_requested().is_some());
    Ok(())
}
